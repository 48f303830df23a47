/**
 * `meshctl up`, `meshctl down`, `meshctl status`: the local mesh on one machine (libs/local).
 * `up` starts a supervisor in the background (`up --foreground` detached, its own log in
 * <state>/logs/up.log), follows its status file until every component is ready, prints the URLs
 * and records the context (pilot's address, the state directory) for the other commands; `down`
 * asks that supervisor to stop everything gracefully; `status` probes each component's health.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findOnPath, readStatus, startLocalMesh, LocalMeshError, NATS_INSTALL_HINT, type LocalMeshBinaries, type LocalMeshStatus } from '@meshwork/local';
import { EXIT, type CliIO } from '../io.js';
import { contextFile } from '../pilot-client.js';
import { citadelAdmin } from './ca.js';
import { runApply } from './apply.js';
import { render, type OutputFormat } from '../output.js';

export interface UpOptions {
  readonly stateDir?: string;
  readonly natsUrl?: string;
  readonly gatewayPort: string;
  readonly bookinfo: boolean;
  readonly foreground: boolean;
  readonly timeout: string;
  readonly wellKnownPorts: boolean;
  /** false: do not start Prometheus even when it is installed. */
  readonly prometheus: boolean;
}

/** stateDirOf returns the local mesh's state directory: the flag, MESHWORK_HOME, the context file's, then ~/.meshwork/local. */
function stateDirOf(flag: string | undefined, io: CliIO): string {
  const env = io.env ?? {};
  if (flag) return resolve(io.cwd, flag);
  if (env.MESHWORK_HOME) return resolve(io.cwd, env.MESHWORK_HOME);
  try {
    const ctx = JSON.parse(readFileSync(contextFile(env), 'utf8')) as { stateDir?: string };
    if (ctx.stateDir) return ctx.stateDir;
  } catch {
    // no context yet
  }
  return join(env.HOME ?? homedir(), '.meshwork', 'local');
}

/** binOf returns the file of a workspace package's bin. */
function binOf(req: NodeRequire, pkg: string, bin: string): string | undefined {
  try {
    const manifest = req.resolve(`${pkg}/package.json`);
    const bins = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: Record<string, string> }).bin ?? {};
    return bins[bin] ? join(dirname(manifest), bins[bin]) : undefined;
  } catch {
    return undefined;
  }
}

/** implemented says whether a deployable is built (unbuilt ones say "not implemented" and exit 2, even for --help). */
function implemented(bin: string | undefined): Promise<boolean> {
  if (!bin) return Promise.resolve(false);
  return new Promise((r) => {
    const p = spawn(process.execPath, [bin, '--help'], { stdio: 'ignore' });
    p.once('error', () => r(false));
    p.once('exit', (code) => r(code === 0));
  });
}

async function binaries(io: CliIO, o: { noPrometheus?: boolean } = {}): Promise<LocalMeshBinaries> {
  const req = createRequire(import.meta.url);
  const need = (pkg: string, bin: string): string => {
    const b = binOf(req, pkg, bin);
    if (!b) throw new LocalMeshError(`cannot find ${bin} (${pkg}): run \`npm install\` in the Meshwork checkout first`);
    return b;
  };
  const mixer = binOf(req, '@meshwork/mixer', 'meshwork-mixer');
  const gateway = binOf(req, '@meshwork/gateway', 'meshwork-gateway');
  const bookinfo = binOf(req, '@meshwork/bookinfo', 'meshwork-bookinfo');
  const nats = findOnPath('nats-server', io.env?.PATH ?? process.env.PATH);
  const prometheus = findOnPath('prometheus', io.env?.PATH ?? process.env.PATH);
  return {
    node: process.execPath,
    citadel: need('@meshwork/citadel', 'meshwork-citadel'),
    pilot: need('@meshwork/pilot', 'meshwork-pilot'),
    sidecar: need('@meshwork/sidecar', 'meshwork-sidecar'),
    ...(nats ? { natsServer: nats } : {}),
    ...(prometheus && !o.noPrometheus ? { prometheus } : {}),
    ...((await implemented(mixer)) ? { mixer: mixer as string } : {}),
    ...((await implemented(gateway)) ? { gateway: gateway as string } : {}),
    ...((await implemented(bookinfo)) ? { bookinfo: bookinfo as string } : {}),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** running returns the status of a local mesh whose supervisor is alive, else undefined. */
function running(stateDir: string): LocalMeshStatus | undefined {
  const s = readStatus(stateDir);
  return s && alive(s.pid) ? s : undefined;
}

function printUrls(s: Pick<LocalMeshStatus, 'urls' | 'components'>, io: CliIO): void {
  if (s.urls.productpage) io.stdout(`\nBookinfo product page: ${s.urls.productpage}\n`);
  io.stdout('\ncomponents:\n');
  for (const c of s.components) io.stdout(`  ${c.name.padEnd(22)} ${Object.entries(c.urls ?? {}).map(([k, v]) => `${k} ${v}`).join('  ')}\n`);
  io.stdout(`\nmeshctl status | meshctl down | logs in ${dirname(s.components[0]?.log ?? '.')}\n`);
}

function writeContext(io: CliIO, stateDir: string, s: LocalMeshStatus): void {
  const file = contextFile(io.env ?? {});
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ pilot: s.urls.pilot, stateDir, ...s.urls }, null, 2)}\n`);
}

/** runUp starts the local mesh (in the background unless --foreground) and returns the exit code. */
export async function runUp(o: UpOptions, io: CliIO): Promise<number> {
  const stateDir = stateDirOf(o.stateDir, io);
  const already = running(stateDir);
  if (already && !o.foreground) {
    io.stdout(`the local mesh is already running (supervisor pid ${already.pid}, state ${stateDir})\n`);
    printUrls(already, io);
    return EXIT.ok;
  }
  const timeoutMs = Math.max(10, Number.parseInt(o.timeout, 10) || 180) * 1000;
  const gatewayPort = Number.parseInt(o.gatewayPort, 10);
  if (!(gatewayPort > 0 && gatewayPort < 65536)) {
    io.stderr(`meshctl up: --gateway-port "${o.gatewayPort}" is not a port\n`);
    return EXIT.usage;
  }
  let bins: LocalMeshBinaries;
  try {
    bins = await binaries(io, { noPrometheus: !o.prometheus });
    if (!o.natsUrl && !bins.natsServer) throw new LocalMeshError(`nats-server is not installed: ${NATS_INSTALL_HINT}`);
  } catch (err) {
    io.stderr(`meshctl up: ${(err as Error).message}\n`);
    return EXIT.findings;
  }
  if (!o.foreground) return upInBackground(o, stateDir, timeoutMs, io);

  const quiet: CliIO = { ...io, stdout: () => undefined };
  const mesh = await startLocalMesh({
    stateDir,
    binaries: bins,
    ...(o.natsUrl ? { natsUrl: o.natsUrl } : {}),
    gatewayPort,
    bookinfo: o.bookinfo,
    wellKnownPorts: o.wellKnownPorts,
    progress: (line) => io.stdout(`${line}\n`),
    joinToken: async (admin, citadelDir, ns, sa) => String((await citadelAdmin({ citadel: admin, stateDir: citadelDir }, io, 'POST', '/v1/join-tokens', { namespace: ns, serviceAccount: sa, ttlSeconds: 30 * 24 * 3600 })).token),
    apply: async (pilot, files) => {
      const code = await runApply({ filename: files, namespace: 'default', pilot, dryRun: false }, quiet, io.env ?? {});
      if (code !== EXIT.ok) throw new LocalMeshError(`applying ${files.join(', ')} through pilot failed`);
    },
  }).catch((err: Error) => {
    io.stderr(`meshctl up: ${err.message}\n`);
    return undefined;
  });
  if (!mesh) return EXIT.findings;
  writeContext(io, stateDir, mesh.status());
  io.stdout('the local mesh is up\n');
  printUrls(mesh.status(), io);
  // Stay up until asked to stop (meshctl down sends SIGTERM; Ctrl-C in the foreground).
  await new Promise<void>((r) => {
    process.once('SIGTERM', r);
    process.once('SIGINT', r);
  });
  io.stdout('stopping the local mesh\n');
  await mesh.stop();
  io.stdout('stopped\n');
  return EXIT.ok;
}

/** upInBackground starts `meshctl up --foreground` detached and follows its status file. */
async function upInBackground(o: UpOptions, stateDir: string, timeoutMs: number, io: CliIO): Promise<number> {
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const logPath = join(stateDir, 'logs', 'up.log');
  const out = openSync(logPath, 'a');
  const self = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'meshctl.js');
  const args = [self, 'up', '--foreground', '--state-dir', stateDir, '--gateway-port', o.gatewayPort, ...(o.natsUrl ? ['--nats-url', o.natsUrl] : []), ...(o.bookinfo ? [] : ['--no-bookinfo']), ...(o.wellKnownPorts ? [] : ['--no-well-known-ports']), ...(o.prometheus ? [] : ['--no-prometheus'])];
  const started = Date.now();
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out], cwd: io.cwd, env: { ...process.env, ...io.env } });
  child.unref();
  io.stdout(`starting the local mesh (state ${stateDir}, log ${logPath})\n`);
  const seen = new Set<string>();
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const s = readStatus(stateDir);
    const fresh = s && s.pid === child.pid ? s : undefined;
    for (const c of fresh?.components ?? []) {
      if (c.state === 'running' && !seen.has(c.name)) {
        seen.add(c.name);
        io.stdout(`  ${c.name} ready\n`);
      }
    }
    if (fresh?.ready) {
      writeContext(io, stateDir, fresh);
      io.stdout('the local mesh is up\n');
      printUrls(fresh, io);
      return EXIT.ok;
    }
    const exited = child.exitCode !== null || child.signalCode !== null || (child.pid !== undefined && !alive(child.pid));
    if (fresh?.error || exited) {
      io.stderr(`meshctl up: ${fresh?.error ?? 'the supervisor exited'}; see ${logPath}\n${tail(logPath)}`);
      return EXIT.findings;
    }
    if (Date.now() - started > timeoutMs) {
      io.stderr(`meshctl up: not ready after ${timeoutMs / 1000}s; it keeps trying in the background (meshctl status, meshctl down); see ${logPath}\n`);
      return EXIT.findings;
    }
  }
}

function tail(path: string, lines = 15): string {
  try {
    return `${readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')}\n`;
  } catch {
    return '';
  }
}

/** runDown stops a running local mesh gracefully and waits until it is gone. */
export async function runDown(o: { stateDir?: string; timeout: string }, io: CliIO): Promise<number> {
  const stateDir = stateDirOf(o.stateDir, io);
  const s = running(stateDir);
  if (!s) {
    io.stdout(`the local mesh is not running (state ${stateDir})\n`);
    return EXIT.ok;
  }
  process.kill(s.pid, 'SIGTERM');
  const deadline = Date.now() + Math.max(5, Number.parseInt(o.timeout, 10) || 60) * 1000;
  while (alive(s.pid)) {
    if (Date.now() > deadline) {
      io.stderr(`meshctl down: the supervisor (pid ${s.pid}) is still stopping; check ${join(stateDir, 'logs')}\n`);
      return EXIT.findings;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  io.stdout(`the local mesh is stopped (state kept in ${stateDir}: meshctl up resumes it)\n`);
  return EXIT.ok;
}

/** runStatus prints each component's state and live health; exit 1 when not running or a component is unhealthy. */
export async function runStatus(o: { stateDir?: string; output: OutputFormat }, io: CliIO): Promise<number> {
  const stateDir = stateDirOf(o.stateDir, io);
  const s = running(stateDir);
  if (!s) {
    io.stdout(`the local mesh is not running (state ${stateDir})\n`);
    return EXIT.findings;
  }
  const rows = await Promise.all(
    s.components.map(async (c) => {
      let healthy = c.state === 'running';
      if (c.healthUrl) {
        try {
          const res = await fetch(c.healthUrl, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          healthy = res.ok;
        } catch {
          healthy = false;
        }
      }
      return { name: c.name, state: c.state, healthy, restarts: c.restarts, pid: c.pid, urls: c.urls ?? {} };
    }),
  );
  if (o.output !== 'text') io.stdout(render(o.output, { ready: s.ready, supervisor: s.pid, urls: s.urls, components: rows }));
  else {
    io.stdout(`${'NAME'.padEnd(22)} ${'STATE'.padEnd(11)} ${'HEALTH'.padEnd(9)} ${'RESTARTS'.padEnd(9)} URLS\n`);
    for (const r of rows) io.stdout(`${r.name.padEnd(22)} ${r.state.padEnd(11)} ${(r.healthy ? 'healthy' : 'unhealthy').padEnd(9)} ${String(r.restarts).padEnd(9)} ${Object.values(r.urls).join(' ')}\n`);
    if (s.urls.productpage) io.stdout(`\nBookinfo product page: ${s.urls.productpage}\n`);
  }
  return rows.every((r) => r.healthy) && s.ready ? EXIT.ok : EXIT.findings;
}


/** What `meshctl dashboard` can show, and the status URL key of each. */
const DASHBOARDS: Record<string, string> = { prometheus: 'prometheus', mixer: 'mixer', pilot: 'pilot', productpage: 'productpage', bookinfo: 'productpage' };

/**
 * runDashboard prints (and with --open, opens) the URL of one of the local mesh's web UIs, as
 * istioctl dashboard does for a cluster's addons. The console is not built yet: it says so.
 */
export async function runDashboard(o: { name: string; stateDir?: string; open: boolean }, io: CliIO): Promise<number> {
  if (o.name === 'console' || o.name === 'kiali') {
    io.stderr('meshctl dashboard: the web console is not built yet; the topology it will show is served by mixer: `meshctl dashboard mixer` (GET /api/graph)\n');
    return EXIT.findings;
  }
  const key = DASHBOARDS[o.name];
  if (!key) {
    io.stderr(`meshctl dashboard: unknown dashboard "${o.name}": use ${[...Object.keys(DASHBOARDS), 'console'].join(', ')}\n`);
    return EXIT.usage;
  }
  const stateDir = stateDirOf(o.stateDir, io);
  const s = running(stateDir);
  if (!s) {
    io.stderr(`meshctl dashboard: the local mesh is not running (state ${stateDir}): start it with meshctl up\n`);
    return EXIT.findings;
  }
  const url = s.urls[key];
  if (!url) {
    io.stderr(`meshctl dashboard: ${o.name} is not part of this mesh${o.name === 'prometheus' ? ' (install prometheus and run meshctl up again)' : ''}\n`);
    return EXIT.findings;
  }
  io.stdout(`${url}\n`);
  if (o.open) {
    const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
    const p = spawn(opener, [url], { stdio: 'ignore', detached: true });
    p.on('error', () => io.stderr(`meshctl dashboard: cannot run ${opener}; open the URL above yourself\n`));
    p.unref();
  }
  return EXIT.ok;
}
