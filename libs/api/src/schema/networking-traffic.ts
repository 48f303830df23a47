/** networking.istio.io traffic-policy and registry kinds: DestinationRule, ServiceEntry, Sidecar, WorkloadEntry, WorkloadGroup. */
import type { KindDef } from './kind.js';

export const TRAFFIC_KINDS: KindDef[] = [];
