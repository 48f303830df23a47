/**
 * Test support: a real redis-server on an ephemeral loopback port with no persistence, so tests
 * share no state, plus a small ShouldRateLimit client for tests that talk to the service.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '@meshwork/bus/testing';
import { RLS_SERVICE_NAME, decodeResponse, encodeRequest, type RlsRequest, type RlsResponse } from './rls-proto.js';

/** A running redis-server. */
export interface RedisServerHandle {
  readonly url: string;
  readonly port: number;
  /** Stops the server (its data is gone: nothing is persisted). */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop). */
  restart(): Promise<void>;
}

/** startRedisServer starts `redis-server` on 127.0.0.1 without persistence and resolves once it accepts connections. */
export async function startRedisServer(opts: { bin?: string } = {}): Promise<RedisServerHandle> {
  const bin = opts.bin ?? process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const p = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`redis-server exited (${code}): ${out.trim().split('\n').pop() ?? ''}`));
      p.once('error', (e) => reject(new Error(`cannot start ${bin}: ${e.message} (install it: apt-get install -y redis-server)`)));
      p.once('exit', onExit);
      const check = (): void => {
        if (out.includes('Ready to accept connections')) {
          p.off('exit', onExit);
          resolve();
        } else setTimeout(check, 20);
      };
      check();
    });
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await launch();
  return { url: `redis://127.0.0.1:${port}`, port, stop, restart: launch };
}

/** A ShouldRateLimit client for tests (the proxy has its own in libs/proxy). */
export class TestRlsClient {
  private readonly client: grpc.Client;

  constructor(target: string) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure());
  }

  /** shouldRateLimit calls the service; rejects with the gRPC error. */
  shouldRateLimit(req: RlsRequest, deadlineMs = 5000): Promise<RlsResponse> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(`/${RLS_SERVICE_NAME}/ShouldRateLimit`, encodeRequest, decodeResponse, req, { deadline: Date.now() + deadlineMs }, (err, r) => (err ? reject(err) : resolve(r as RlsResponse)));
    });
  }

  close(): void {
    this.client.close();
  }
}
