/**
 * @meshwork/slo — service level objectives as pure functions: which requests are good (SLI),
 * error budget and burn rate, rolling-window counts, multiwindow multi-burn-rate alerts, and
 * the equivalent Prometheus rules. No I/O and no clock: time is always an argument. Mixer
 * evaluates objectives with it; meshctl renders the rules. This file is the only public door.
 */
export * from './sli.js';
export * from './budget.js';
export * from './alerts.js';
export * from './window.js';
export * from './match.js';
export * from './rules.js';
