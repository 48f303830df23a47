/** networking.istio.io (versions v1, v1beta1, v1alpha3). */
import type { KindDef } from './kind.js';
import { ROUTING_KINDS } from './networking-routing.js';
import { TRAFFIC_KINDS } from './networking-traffic.js';

export * from './networking-routing.js';
export * from './networking-traffic.js';

export const NETWORKING_KINDS: KindDef[] = [...ROUTING_KINDS, ...TRAFFIC_KINDS];
