/**
 * Test support: a real nats-server (with JetStream) on an ephemeral loopback port, in a
 * temporary store directory, so tests share no state and pass on a fresh machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  /** Stops the server and removes its store. */
  stop(): Promise<void>;
  /** Stops the server but keeps its store, to restart it on the same port. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store (after kill). */
  restart(): Promise<void>;
}

/** freePort returns a loopback port that was free a moment ago (for configs that must name a port before it is bound). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** startNatsServer starts `nats-server -js` on 127.0.0.1 and resolves once it accepts connections. */
export async function startNatsServer(opts: { bin?: string } = {}): Promise<NatsServerHandle> {
  const bin = opts.bin ?? process.env.NATS_SERVER_BIN ?? 'nats-server';
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-nats-'));
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    proc = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`nats-server exited (${code}): ${stderr.trim().split('\n').pop() ?? ''}`));
      proc!.once('error', (e) => reject(new Error(`cannot start ${bin}: ${e.message} (install it: apt-get install -y nats-server)`)));
      proc!.once('exit', onExit);
      const check = (): void => {
        if (stderr.includes('Server is ready')) {
          proc!.off('exit', onExit);
          resolve();
        } else setTimeout(check, 20);
      };
      check();
    });
  };
  const kill = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
