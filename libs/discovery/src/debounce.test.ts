import { describe, expect, it } from 'vitest';
import { Debouncer, type PushRequest } from './debounce.js';
import { ManualClock } from './testing.js';

const req = (clock: ManualClock, config: string): PushRequest => ({ full: true, configs: new Set([config]), services: new Set(), reasons: new Set(['config']), start: clock.now() });

function setup(pushMs = 0) {
  const clock = new ManualClock();
  const pushes: { at: number; configs: string[] }[] = [];
  const d = new Debouncer({
    quietMs: 100,
    maxMs: 10_000,
    clock,
    push: async (r) => {
      pushes.push({ at: clock.now(), configs: [...r.configs].sort() });
      if (pushMs > 0) await new Promise<void>((res) => clock.setTimeout(res, pushMs));
    },
  });
  return { clock, pushes, d };
}

describe('Debouncer', () => {
  it('pushes once after 100ms of quiet, merging the events', async () => {
    const { clock, pushes, d } = setup();
    d.enqueue(req(clock, 'a'));
    await clock.advance(50);
    d.enqueue(req(clock, 'b'));
    await clock.advance(99);
    expect(pushes).toEqual([]);
    await clock.advance(1);
    expect(pushes).toEqual([{ at: 150, configs: ['a', 'b'] }]);
  });

  it('pushes at the max wait even if events never stop', async () => {
    const { clock, pushes, d } = setup();
    for (let t = 0; t < 12_000; t += 50) {
      d.enqueue(req(clock, `c${t}`));
      await clock.advance(50);
    }
    expect(pushes[0].at).toBe(10_000);
    expect(pushes[0].configs.length).toBe(200);
  });

  it('runs one push at a time and merges what arrives meanwhile into the next', async () => {
    const { clock, pushes, d } = setup(1000);
    d.enqueue(req(clock, 'a'));
    await clock.advance(100); // push 1 starts at 100, runs until 1100
    d.enqueue(req(clock, 'b'));
    await clock.advance(300);
    d.enqueue(req(clock, 'c'));
    await clock.advance(2000);
    expect(pushes).toEqual([
      { at: 100, configs: ['a'] },
      { at: 1100, configs: ['b', 'c'] },
    ]);
  });

  it('drops pending work on close', async () => {
    const { clock, pushes, d } = setup();
    d.enqueue(req(clock, 'a'));
    d.close();
    await clock.advance(1000);
    expect(pushes).toEqual([]);
  });
});
