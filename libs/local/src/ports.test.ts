import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { anyFreePort, isPortFree, PortAllocator } from './ports.js';

const held: Server[] = [];
afterEach(async () => {
  for (const s of held.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

/** hold binds `port` (0: any) on loopback until the test ends, as another program would, and returns it. */
async function hold(port = 0): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve());
  });
  held.push(s);
  return (s.address() as { port: number }).port;
}

describe('isPortFree / anyFreePort', () => {
  it('tells a held port from a free one', async () => {
    const busy = await hold();
    expect(await isPortFree(busy)).toBe(false);
    const free = await anyFreePort();
    expect(free).toBeGreaterThan(0);
    expect(await isPortFree(free)).toBe(true);
  });
});

describe('PortAllocator', () => {
  it('gives the preferred port when it is free', async () => {
    const preferred = await anyFreePort();
    const ports = new PortAllocator();
    expect(await ports.port('pilot-xds', preferred)).toBe(preferred);
    expect(ports.assigned).toEqual({ 'pilot-xds': preferred });
  });

  it('a busy preferred port is replaced by a free one, and the replacement is reported in assigned', async () => {
    const busy = await hold();
    const ports = new PortAllocator();
    const got = await ports.port('gateway-http', busy, true);
    expect(got).not.toBe(busy);
    expect(got).toBeGreaterThan(0);
    expect(await isPortFree(got)).toBe(true);
    expect(ports.assigned).toEqual({ 'gateway-http': got });
  });

  it('a remembered port wins over the preferred one; a remembered port that became busy falls back to the preferred one', async () => {
    const remembered = await anyFreePort();
    const preferred = await anyFreePort();
    expect(await new PortAllocator({ nats: remembered }).port('nats', preferred)).toBe(remembered);
    await hold(remembered);
    expect(await new PortAllocator({ nats: remembered }).port('nats', preferred)).toBe(preferred);
  });

  it('both remembered and preferred busy: any free port', async () => {
    const remembered = await hold();
    const preferred = await hold();
    const got = await new PortAllocator({ nats: remembered }).port('nats', preferred);
    expect([remembered, preferred]).not.toContain(got);
    expect(await isPortFree(got)).toBe(true);
  });

  it('never hands one port to two keys, even when both prefer it', async () => {
    const preferred = await anyFreePort();
    const ports = new PortAllocator();
    const a = await ports.port('mixer', preferred);
    const b = await ports.port('mixer-ratelimit', preferred);
    expect(a).toBe(preferred);
    expect(b).not.toBe(preferred);
    expect(ports.assigned).toEqual({ mixer: a, 'mixer-ratelimit': b });
  });

  it('without well-known ports, a preference is used only when explicit', async () => {
    // Below Linux's ephemeral range, so the "any free port" the allocator falls back to cannot be it by chance.
    let preferred = 23_000;
    while (!(await isPortFree(preferred))) preferred++;
    const ports = new PortAllocator({}, '127.0.0.1', false);
    expect(await ports.port('pilot-xds', preferred)).not.toBe(preferred);
    expect(await ports.port('gateway-http', preferred, true)).toBe(preferred);
  });
});
