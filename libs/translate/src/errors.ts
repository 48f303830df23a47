/**
 * Named errors of libs/translate. Translation itself never throws on mesh content (bad or
 * dangling references are skipped, as Istio does); these errors come from node parsing and
 * from the simulator, which reports why a request found no destination.
 */
export class MeshTranslateError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An xDS node id that is not Istio's `type~ip~pod.ns~ns.svc.domain` and not a proxyless gRPC node. */
export class InvalidNodeError extends MeshTranslateError {
  constructor(message: string) {
    super('MESH_ERR_INVALID_NODE', message);
  }
}

/** Simulation: no listener accepts the request's port (or no API listener has the requested name). */
export class NoListenerError extends MeshTranslateError {
  constructor(message: string) {
    super('MESH_ERR_SIM_NO_LISTENER', message);
  }
}

/** Simulation: the listener's route configuration has no virtual host or route for the request. */
export class NoRouteError extends MeshTranslateError {
  constructor(message: string) {
    super('MESH_ERR_SIM_NO_ROUTE', message);
  }
}

/** Simulation: a route names a cluster that the CDS output does not contain. */
export class NoClusterError extends MeshTranslateError {
  constructor(message: string) {
    super('MESH_ERR_SIM_NO_CLUSTER', message);
  }
}
