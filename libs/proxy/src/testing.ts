/**
 * Test support of @meshwork/proxy (STYLE.md 17): a manual clock and a seeded random, so tests of
 * balancers, outlier detection and pipeline stages control time and chance.
 */
export { manualClock, seededRandom, type ManualClock } from './lb/test-clock.js';
