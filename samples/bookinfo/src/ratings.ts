/**
 * ratings: the stars each reviewer gave. `/ratings/<id>` answers Reviewer1 5 and Reviewer2 4
 * unless a POST stored other ratings for that product (kept in memory). The failure versions of
 * Istio's ratings are here too, for resilience demos: v-faulty (half the calls 503), v-delayed
 * (half the calls 7 s late), v-unavailable (503 every other minute), v-unhealthy (503 and a failing
 * /health every other 15 minutes).
 */
import { json, type Handler, type Reply } from './server.js';

/** Knobs for tests; production uses the defaults (Istio's values). */
export interface RatingsOptions {
  readonly version: string;
  /** Random numbers in [0, 1) for v-faulty and v-delayed. */
  readonly random?: () => number;
  /** v-delayed's delay (7 s). */
  readonly delayMs?: number;
  /** Period of v-unavailable's toggle (60 s) and v-unhealthy's (15 min). */
  readonly toggleMs?: number;
}

/** A ratings handler and the timer it may hold (v-unavailable, v-unhealthy). */
export interface RatingsService {
  readonly handler: Handler;
  close(): void;
}

/** The ratings of product `id` when no one has posted any. */
export function defaultRatings(id: number): { id: number; ratings: Record<string, number> } {
  return { id, ratings: { Reviewer1: 5, Reviewer2: 4 } };
}

/** ratingsService returns the ratings service for `opts.version`: GET/POST /ratings/<id> and /health. */
export function ratingsService(opts: RatingsOptions): RatingsService {
  const random = opts.random ?? Math.random;
  const delayMs = opts.delayMs ?? 7000;
  const stored = new Map<number, { id: number; ratings: unknown }>();
  let unavailable = false;
  let healthy = true;
  let timer: NodeJS.Timeout | undefined;
  if (opts.version === 'v-unavailable' || opts.version === 'v-unhealthy') {
    const period = opts.toggleMs ?? (opts.version === 'v-unavailable' ? 60_000 : 900_000);
    timer = setInterval(() => {
      unavailable = !unavailable;
      if (opts.version === 'v-unhealthy') healthy = !healthy;
    }, period);
    timer.unref();
  }
  const current = (id: number): unknown => stored.get(id) ?? defaultRatings(id);
  const serviceUnavailable = (): Reply => json(503, { error: 'Service unavailable' });

  const handler: Handler = async (req) => {
    if (req.path === '/health') return healthy ? json(200, { status: 'Ratings is healthy' }) : json(500, { status: 'Ratings is not healthy' });
    if (req.path !== '/ratings' && !req.path.startsWith('/ratings/')) return json(404, { error: 'not found' });
    const id = Number.parseInt(req.path.split('/').pop() ?? '', 10);
    if (Number.isNaN(id)) return json(400, { error: 'please provide numeric product ID' });
    if (req.method === 'POST') {
      let ratings: unknown;
      try {
        ratings = JSON.parse(req.body);
      } catch {
        return json(400, { error: 'please provide valid ratings JSON' });
      }
      stored.set(id, { id, ratings });
      return json(200, current(id));
    }
    if (req.method !== 'GET') return json(405, { error: 'method not allowed' });
    switch (opts.version) {
      case 'v-faulty':
        return random() <= 0.5 ? serviceUnavailable() : json(200, current(id));
      case 'v-delayed':
        if (random() <= 0.5) await new Promise((r) => setTimeout(r, delayMs));
        return json(200, current(id));
      case 'v-unavailable':
      case 'v-unhealthy':
        return unavailable ? serviceUnavailable() : json(200, current(id));
      default:
        return json(200, current(id));
    }
  };
  return { handler, close: () => clearInterval(timer) };
}
