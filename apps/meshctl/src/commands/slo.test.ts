import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import type { CliIO } from '../io.js';

const SLOS = `apiVersion: meshwork.io/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: productpage-api-latency
  namespace: bookinfo
spec:
  host: productpage
  match:
  - uri:
      prefix: /api/
  reporter: SOURCE
  sli:
    latency:
      threshold: 250ms
  objective: 99
  window: 4w
---
apiVersion: meshwork.io/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: reviews-availability
  namespace: bookinfo
spec:
  host: reviews.bookinfo.svc.cluster.local
  sli:
    availability:
      errorCodes: ["5xx", "429"]
  objective: 99.9
`;

async function run(argv: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), readStdin: async () => '', cwd, env };
  const code = await runCli(argv, io);
  return { code, out, err };
}

describe('meshctl slo rules', () => {
  it.skipIf(!existsSync('/usr/bin/promtool'))('prints rules that promtool check rules accepts, warnings on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-slo-'));
    writeFileSync(join(dir, 'slo.yaml'), SLOS);
    const r = await run(['slo', 'rules', '-f', 'slo.yaml'], dir);
    expect(r.code).toBe(0);
    expect(r.err).toBe('warning: bookinfo/productpage-api-latency: match (uri, method, port) is not expressible over Istio\'s metrics (no such labels); the rules cover every request to the service, mixer evaluates the match exactly\n');
    expect(r.out).toContain('name: meshwork-slo-bookinfo-reviews-availability');
    writeFileSync(join(dir, 'rules.yaml'), r.out);
    const check = execFileSync('/usr/bin/promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    // reviews: 8 error ratios (5m..3d and 30d), objective, budget, 4 alerts; productpage (4w window): the same with 4w = 14 more
    expect(check).toMatch(/SUCCESS: 28 rules found/);
  });

  it('exits 1 on invalid input and when there is no objective', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-slo-'));
    writeFileSync(join(dir, 'bad.yaml'), SLOS.replace('objective: 99.9', 'objective: 100'));
    const bad = await run(['slo', 'rules', '-f', 'bad.yaml'], dir);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('spec.objective');
    expect(bad.out).toBe('');
    writeFileSync(join(dir, 'none.yaml'), 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\nspec: {mtls: {mode: STRICT}}\n');
    const none = await run(['slo', 'rules', '-f', 'none.yaml'], dir);
    expect(none).toMatchObject({ code: 1, err: 'no ServiceLevelObjective found in the input\n' });
  });
});

describe('meshctl slo status', () => {
  it('reads mixer /api/slos and prints a table', async () => {
    const server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          slos: [
            {
              name: 'reviews-availability',
              namespace: 'bookinfo',
              service: 'reviews.bookinfo.svc.cluster.local',
              objective: 99.9,
              windowSeconds: 2592000,
              total: 6000,
              good: 5940,
              sli: 0.99,
              errorBudgetRemaining: -9,
              alerts: [
                { longWindowSeconds: 3600, shortWindowSeconds: 300, burnRate: 14.4, severity: 'PAGE', firing: false },
                { longWindowSeconds: 21600, shortWindowSeconds: 1800, burnRate: 6, severity: 'PAGE', firing: true },
              ],
            },
          ],
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = await run(['slo', 'status'], tmpdir(), { MESHCTL_MIXER: url });
    server.close();
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+SERVICE\s+OBJECTIVE\s+WINDOW\s+REQUESTS\s+SLI\s+BUDGET LEFT\s+FIRING$/);
    expect(lines[1]).toMatch(/^bookinfo\s+reviews-availability\s+reviews\.bookinfo\.svc\.cluster\.local\s+99\.9%\s+30d\s+6000\s+99\.000%\s+-900\.0%\s+6h\/30m@6x\(PAGE\)$/);
  });

  it('says where it looked when mixer is not there', async () => {
    const r = await run(['slo', 'status', '--mixer', 'http://127.0.0.1:1'], tmpdir());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^cannot read SLOs from mixer at http:\/\/127\.0\.0\.1:1: /);
  });

  it("reads mixer's address from the context file `meshctl up` writes, else uses mixer's default port", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-ctx-'));
    const ctx = join(dir, 'context.json');
    writeFileSync(ctx, JSON.stringify({ pilot: 'http://127.0.0.1:2', mixer: 'http://127.0.0.1:3/' }));
    const fromContext = await run(['slo', 'status'], dir, { MESHCTL_CONTEXT: ctx });
    expect(fromContext.code).toBe(1);
    expect(fromContext.err).toMatch(/^cannot read SLOs from mixer at http:\/\/127\.0\.0\.1:3: /);
    const byDefault = await run(['slo', 'status'], dir, { MESHCTL_CONTEXT: join(dir, 'none.json') });
    expect(byDefault.err).toMatch(/^cannot read SLOs from mixer at http:\/\/127\.0\.0\.1:15014: /);
  });
});
