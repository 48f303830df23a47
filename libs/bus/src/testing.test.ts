import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { startNatsServer } from './testing.js';

describe('startNatsServer', () => {
  it('starts a real server with JetStream that survives a restart on the same port', async () => {
    const srv = await startNatsServer();
    try {
      const nc = await connect({ servers: srv.url });
      const sub = nc.subscribe('x.y', { max: 1 });
      nc.publish('x.y', 'hello');
      for await (const m of sub) expect(m.string()).toBe('hello');
      await nc.close();
      await srv.kill();
      await srv.restart();
      const nc2 = await connect({ servers: srv.url });
      expect(nc2.info?.jetstream).toBe(true);
      await nc2.close();
    } finally {
      await srv.stop();
    }
  });
});
