import type { KindDef } from './kind.js';

export const MESHWORK_KINDS: KindDef[] = [];
