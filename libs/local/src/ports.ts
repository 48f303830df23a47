/**
 * The local mesh's port plan: every component on loopback, on Istio's well-known port where it is
 * free (and not already taken by another component of the same mesh), otherwise on a free one.
 * The plan is kept in the state directory so a restarted mesh finds its components where they were;
 * a port that became busy meanwhile is replaced, never fatal (issue 8: a busy default port never
 * makes `up` fail).
 */
import { createServer } from 'node:net';

/** isPortFree says whether `port` can be bound on `host` right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** anyFreePort returns a port the kernel handed out for `host` a moment ago. */
export function anyFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ port: 0, host }, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * PortAllocator hands out distinct free ports: the remembered one for a key if it is free, else
 * the preferred one, else any free port.
 */
export class PortAllocator {
  private readonly taken = new Set<number>();
  readonly assigned: Record<string, number> = {};

  constructor(
    private readonly remembered: Readonly<Record<string, number>> = {},
    private readonly host = '127.0.0.1',
    /** false: ignore well-known preferences (several meshes on one machine, e.g. tests), keep only explicit ones. */
    private readonly wellKnown = true,
  ) {}

  /**
   * port returns the port for `key`: the remembered one, else `preferred` (a well-known port; used
   * only when well-known ports are on, unless `explicit`), else any free port.
   */
  async port(key: string, preferred?: number, explicit = false): Promise<number> {
    for (const p of [this.remembered[key], this.wellKnown || explicit ? preferred : undefined]) {
      if (p !== undefined && p > 0 && !this.taken.has(p) && (await isPortFree(p, this.host))) return this.take(key, p);
    }
    for (;;) {
      const p = await anyFreePort(this.host);
      if (!this.taken.has(p)) return this.take(key, p);
    }
  }

  private take(key: string, p: number): number {
    this.taken.add(p);
    this.assigned[key] = p;
    return p;
  }
}
