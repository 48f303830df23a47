import { describe, expect, it } from 'vitest';
import { syncState } from './proxy.js';

describe('syncState', () => {
  it.each([
    [undefined, 'NOT SENT'],
    [{}, 'NOT SENT'],
    [{ sent: 'v2', acked: 'v2' }, 'SYNCED'],
    [{ sent: 'v2', acked: 'v1' }, 'STALE'],
    [{ sent: 'v2', acked: 'v1', nacked: 'v2', error: 'bad' }, 'NACKED'],
    [{ sent: 'v3', acked: 'v1', nacked: 'v2' }, 'STALE'],
  ])('%j → %s', (t, want) => expect(syncState(t)).toBe(want));
});
