// Helpers every benchmark script shares: core pinning (taskset), required binaries, loopback
// ports, child processes' CPU and RSS from /proc, one-shot commands, and the numbers the tables
// print (rounding, medians, best rounds, wrk's latency units).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** Whether taskset can pin processes to a core here. */
export const haveTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
})();

/** pin returns [command, args] running `cmd` on `core` (unpinned without taskset). */
export const pin = (core, cmd, args) => (haveTaskset ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);

/** requireOnPath exits 2 naming the Debian package when one of `bins` is missing. */
export function requireOnPath(bench, bins) {
  for (const bin of bins) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`]);
    } catch {
      console.error(`${bench} needs ${bin} on PATH (apt-get install ${bin})`);
      process.exit(2);
    }
  }
}

/** freePort resolves with a loopback port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** waitPort resolves once something listens on the loopback `port` (rejects after `ms`). */
export function waitPort(port, ms = 10_000) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`port ${port} not listening`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** procStats returns a process's CPU clock ticks (user + system) and resident memory in MB. */
export function procStats(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { ticks, rssMb: rss ? Number(rss[1]) / 1024 : 0 };
}

/** run resolves with the stdout of a command run to completion on `core`. */
export function run(core, cmd, args) {
  const [c, a] = pin(core, cmd, args);
  return new Promise((resolve, reject) => {
    const p = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))));
  });
}

/** toMs converts a wrk latency (value and unit) to milliseconds. */
export const toMs = (v, unit) => Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 1);

/** round rounds to `d` decimals. */
export function round(x, d) {
  const k = 10 ** d;
  return Math.round(x * k) / k;
}

/** median of the non-null values (lower middle), or null. */
export const median = (xs) => {
  const v = xs.filter((x) => x !== null).sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.floor((v.length - 1) / 2)];
};

/** best applies `pick` (Math.max, Math.min) to the non-null values, or null. */
export const best = (xs, pick) => {
  const v = xs.filter((x) => x !== null);
  return v.length === 0 ? null : pick(...v);
};

/**
 * paced calls `send(i)` for i = 0, 1, … at `rate` per second for `seconds` (a 10 ms tick sends
 * what has come due since the last one: open loop, the schedule never waits for the sends);
 * resolves when the time is up.
 */
export function paced(rate, seconds, send) {
  const t0 = performance.now();
  let n = 0;
  return new Promise((resolve) => {
    const tick = setInterval(() => {
      const elapsed = (performance.now() - t0) / 1000;
      if (elapsed >= seconds) {
        clearInterval(tick);
        resolve();
        return;
      }
      const due = Math.floor(elapsed * rate) - n;
      for (let i = 0; i < due; i++) send(n++);
    }, 10);
  });
}
