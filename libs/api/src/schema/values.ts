/**
 * Small readers for cross-field rules, which run on values that may be partly invalid
 * (see crossCheck in dsl.ts): they never throw on a value of the wrong type.
 */
import type * as z from 'zod';

export type Ctx = z.core.$RefinementCtx<unknown>;
export type Path = (string | number)[];

/** issue reports `message` at `path` (relative to the value being checked). */
export function issue(ctx: Ctx, path: Path, message: string): void {
  ctx.addIssue({ code: 'custom', message, path, input: undefined });
}

/** isObj reports whether `v` is a plain object (not null, not a list). */
export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** arr returns `v` if it is a list, else an empty list. */
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
