#!/usr/bin/env node
// Fixed-rate HTTP/1.1 load through a sidecar's outbound port, Host-routed: RATE requests/s for
// SECONDS over 16 keep-alive connections, in 10 ms ticks (open loop: the schedule does not wait
// for answers). So two sidecars can be compared at the same request rate (CPU per request).
// Prints one JSON line: sent, ok, errors, rps.
// usage: rate.mjs <port> <host header> <rate> <seconds>
import * as http from 'node:http';
import { paced } from '../lib.mjs';

const [port, host, rateArg, secondsArg] = process.argv.slice(2);
const RATE = Number(rateArg), SECONDS = Number(secondsArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
let sent = 0, ok = 0, errors = 0;
const one = () =>
  new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: Number(port), path: '/', headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) ok++;
        else errors++;
        resolve();
      });
    });
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.end();
  });
const inflight = new Set();
const t0 = performance.now();
await paced(RATE, SECONDS, () => {
  sent++;
  const p = one().then(() => {
    inflight.delete(p);
  });
  inflight.add(p);
});
await Promise.all(inflight);
agent.destroy();
console.log(JSON.stringify({ sent, ok, errors, rps: ok / ((performance.now() - t0) / 1000) }));
