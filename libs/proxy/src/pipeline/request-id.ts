/**
 * `x-request-id` values as Envoy generates them: UUID v4 strings (version nibble 4, RFC 4122
 * variant), unique per request.
 *
 * Why not `crypto.randomUUID()` per request: it formats 16 fresh random bytes every time (~0.16 µs
 * per request in the HTTP/1.1 listener's profile). Here 16 random bytes make a block of 65,536 ids:
 * the first 28 hex digits come from the random bytes (106 random bits, version and variant set),
 * the last 4 count through the block, and the next block draws new random bytes. Ids stay unique
 * within the process (a block never repeats a counter value) and across processes as far as
 * 106 random bits go. The id is not a secret in Envoy either (it is logged, propagated and used
 * for trace correlation), so predictability within a block is no loss.
 */
import { randomFillSync } from 'node:crypto';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const bytes = new Uint8Array(16);
let prefix = '';
/** Ids left in the current block; 0: draw a new prefix first. */
let left = 0;

function newBlock(): void {
  randomFillSync(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = (i: number): string => HEX[bytes[i]];
  // 8-4-4-4-12; the last two bytes are the counter's.
  prefix = `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}`;
  left = 65536;
}

/** requestId returns a fresh UUID v4-format request id. */
export function requestId(): string {
  if (left === 0) newBlock();
  const n = --left;
  return prefix + HEX[n >>> 8] + HEX[n & 0xff];
}
