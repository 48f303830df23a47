/** networking.istio.io routing kinds: VirtualService and Gateway. */
import type { KindDef } from './kind.js';

export const ROUTING_KINDS: KindDef[] = [];
