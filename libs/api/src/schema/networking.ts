import type { KindDef } from './kind.js';

export const NETWORKING_KINDS: KindDef[] = [];
