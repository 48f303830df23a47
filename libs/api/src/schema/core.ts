import type { KindDef } from './kind.js';

export const CORE_KINDS: KindDef[] = [];
