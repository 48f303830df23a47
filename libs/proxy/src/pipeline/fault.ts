/**
 * The fault stage (Envoy's HTTP fault filter as Istio configures it): a delay and an abort, each
 * drawn independently with its own percentage. The delay comes first; an abort is answered
 * locally after it. Flags: DI for an injected delay, FI for an injected abort.
 */
import type { FaultPolicy } from '../model.js';

/** What the fault stage decided. */
export interface FaultOutcome {
  /** Milliseconds to hold the request before going on (0: none). */
  readonly delayMs: number;
  /** Answer locally instead of forwarding. */
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number };
}

const NO_FAULT: FaultOutcome = { delayMs: 0 };

/** decideFault draws the delay and the abort for one request (`random` returns [0, 1)). */
export function decideFault(policy: FaultPolicy | undefined, random: () => number): FaultOutcome {
  if (!policy) return NO_FAULT;
  const delayMs = policy.delay && policy.delay.fraction > 0 && random() < policy.delay.fraction ? policy.delay.fixedDelayMs : 0;
  const abort = policy.abort && policy.abort.fraction > 0 && random() < policy.abort.fraction ? { httpStatus: policy.abort.httpStatus, grpcStatus: policy.abort.grpcStatus } : undefined;
  return abort ? { delayMs, abort } : delayMs > 0 ? { delayMs } : NO_FAULT;
}
