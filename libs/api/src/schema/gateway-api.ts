import type { KindDef } from './kind.js';

export const GATEWAY_API_KINDS: KindDef[] = [];
