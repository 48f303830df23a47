/** Named errors of @meshwork/xds (STYLE.md 11): each has a stable MESH_ERR_* code and an optional cause. */

/** Base class: every error this library throws carries a stable `code`. */
export class XdsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The Envoy protos shipped by @grpc/grpc-js-xds could not be found or parsed. */
export class ProtoLoadError extends XdsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_XDS_PROTO_LOAD', message, options);
  }
}

/** A resource object that does not match its Envoy proto (the errors carry field paths). */
export class InvalidResourceError extends XdsError {
  constructor(
    readonly typeUrl: string,
    readonly errors: readonly string[],
  ) {
    super('MESH_ERR_XDS_INVALID_RESOURCE', `invalid ${typeUrl}: ${errors.join('; ')}`);
  }
}

/** Thrown by an AdsServer's onConnect hook to refuse a stream with a gRPC status code. */
export class AdsRefusedError extends XdsError {
  constructor(
    readonly grpcCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('MESH_ERR_XDS_REFUSED', message, options);
  }
}
