import type { KindDef } from './kind.js';

export const TELEMETRY_KINDS: KindDef[] = [];
