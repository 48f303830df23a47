import { describe, expect, it } from 'vitest';
import { choosePriority, priorityLoad } from './priority.js';

// Levels as [healthy, total]. Loads follow Envoy's integer arithmetic: health = min(100, ⌊140 ×
// healthy / total⌋), loads ⌊health × 100 / total health⌋ in order, leftovers to the first level.
describe('priorityLoad', () => {
  const cases: { name: string; levels: [number, number][]; threshold?: number; load: number[]; panic: boolean[] }[] = [
    { name: 'all healthy: P0 takes everything', levels: [[4, 4], [4, 4]], load: [100, 0], panic: [false, false] },
    { name: '72% healthy still keeps all traffic (×1.4 ≥ 100)', levels: [[72, 100], [1, 1]], load: [100, 0], panic: [false, false] },
    { name: '71% healthy spills 1%', levels: [[71, 100], [1, 1]], load: [99, 1], panic: [false, false] },
    { name: '50% healthy keeps 70%', levels: [[1, 2], [2, 2]], load: [70, 30], panic: [false, false] },
    { name: '25% healthy keeps 35%', levels: [[1, 4], [4, 4]], load: [35, 65], panic: [false, false] },
    { name: 'three levels: 25%, 25%, 100%', levels: [[1, 4], [1, 4], [2, 2]], load: [35, 35, 30], panic: [false, false, false] },
    { name: 'total health below 100 is normalized, leftovers to P0', levels: [[1, 4], [1, 4], [1, 5]], threshold: 0, load: [37, 35, 28], panic: [false, false, false] },
    { name: 'the same levels with panic at 50%: all in panic, load by host counts', levels: [[1, 4], [1, 4], [1, 5]], load: [32, 30, 38], panic: [true, true, true] },
    { name: 'P0 empty of healthy hosts: all to P1', levels: [[0, 3], [3, 3]], load: [0, 100], panic: [false, false] },
    { name: 'no panic while total health is 100, even for a level below the threshold', levels: [[2, 5], [5, 5]], load: [56, 44], panic: [false, false] },
    { name: 'one level in panic (below 50%) while another is not', levels: [[1, 5], [1, 2]], load: [29, 71], panic: [true, false] },
    { name: 'every level in panic: load by host counts', levels: [[2, 5], [1, 5]], load: [50, 50], panic: [true, true] },
    { name: 'nothing healthy, panic at 50%: total panic over host counts', levels: [[0, 1], [0, 3]], load: [25, 75], panic: [true, true] },
    { name: 'nothing healthy, panic disabled: P0 nominally, no panic (pick finds nothing)', levels: [[0, 1], [0, 3]], threshold: 0, load: [100, 0], panic: [false, false] },
    { name: 'panic threshold 0: a weak level is never in panic', levels: [[1, 5], [0, 5]], threshold: 0, load: [100, 0], panic: [false, false] },
    { name: 'empty first level', levels: [[0, 0], [2, 2]], load: [0, 100], panic: [false, false] },
    { name: 'no hosts at all', levels: [[0, 0]], load: [100], panic: [true] },
  ];
  it.each(cases)('$name', ({ levels, threshold, load, panic }) => {
    const got = priorityLoad(levels.map(([healthy, total]) => ({ healthy, total })), threshold);
    expect(got.load).toEqual(load);
    expect(got.panic).toEqual(panic);
    expect(got.load.reduce((a, b) => a + b, 0)).toBe(100);
  });
});

describe('choosePriority', () => {
  it.each([
    [[70, 30], 0, 0],
    [[70, 30], 69, 0],
    [[70, 30], 70, 1],
    [[70, 30], 99, 1],
    [[0, 100], 0, 1],
    [[35, 35, 30], 70, 2],
  ])('load %j at %d → P%d', (load, percent, want) => {
    expect(choosePriority(load, percent)).toBe(want);
  });
});
