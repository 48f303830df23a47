import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishTrustBundle, readTrustBundle, watchTrustBundle, type TrustBundleMessage } from './ca-roots.js';
import { CA_ROOTS_SUBJECT } from './subjects.js';
import { startNatsServer, type NatsServerHandle } from './testing.js';

describe('trust bundle over NATS', () => {
  let srv: NatsServerHandle;
  beforeAll(async () => {
    srv = await startNatsServer();
  });
  afterAll(async () => srv.stop());

  it('stores the bundle for late joiners, announces it on mesh.ca.roots, and streams updates', async () => {
    const pub = await connect({ servers: srv.url });
    const sub = await connect({ servers: srv.url });
    try {
      expect(await readTrustBundle(sub)).toBeUndefined();
      const announced = sub.subscribe(CA_ROOTS_SUBJECT, { max: 2 });
      await sub.flush();
      const v1: TrustBundleMessage = { trustDomain: 'cluster.local', roots: ['ROOT-A'], updatedAt: '2030-01-01T00:00:00.000Z' };
      await publishTrustBundle(pub, v1);
      expect(await readTrustBundle(sub)).toEqual(v1);
      const seen: TrustBundleMessage[] = [];
      let wake: () => void = () => undefined;
      const stop = await watchTrustBundle(sub, (b) => {
        seen.push(b);
        wake();
      });
      const waitFor = (n: number): Promise<void> =>
        new Promise((r) => {
          wake = () => {
            if (seen.length >= n) r();
          };
          wake();
        });
      await waitFor(1);
      const v2: TrustBundleMessage = { trustDomain: 'cluster.local', roots: ['ROOT-B', 'ROOT-A'], updatedAt: '2030-01-02T00:00:00.000Z' };
      await publishTrustBundle(pub, v2);
      await waitFor(2);
      stop();
      expect(seen).toEqual([v1, v2]);
      const msgs: unknown[] = [];
      for await (const m of announced) msgs.push(m.json());
      expect(msgs).toEqual([v1, v2]);
    } finally {
      await pub.close();
      await sub.close();
    }
  });
});
