/**
 * reviews: two reviews of the book. v1 shows no rating; v2 and v3 ask ratings for the stars and
 * colour them black (v2) or red (v3). When ratings cannot answer in time, each review carries
 * "Ratings service is currently unavailable" instead, and the reviews answer is still 200, as in
 * Istio's sample. The ratings timeout is Istio's: 10 s for black stars, 2.5 s otherwise.
 */
import type { UpstreamClient } from './upstream.js';
import { forwardHeaders } from './headers.js';
import { json, type Handler } from './server.js';

/** The text reviews v2/v3 put in place of the stars when ratings failed (Istio's wording). */
export const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';

/** What one reviews version does. */
export interface ReviewsOptions {
  readonly upstream: UpstreamClient;
  /** Base URL of ratings, e.g. http://ratings:9080. */
  readonly ratingsUrl: string;
  readonly ratingsEnabled: boolean;
  readonly starColor: string;
  readonly podName: string;
  readonly clusterName?: string;
  /** Overrides Istio's timeout (ratingsTimeoutMs) — for tests. */
  readonly ratingsTimeoutMs?: number;
}

/** reviewsDefaults returns what a reviews version does unless told otherwise: v2 black stars, v3 red, others none. */
export function reviewsDefaults(version: string): { ratingsEnabled: boolean; starColor: string } {
  if (version === 'v2') return { ratingsEnabled: true, starColor: 'black' };
  if (version === 'v3') return { ratingsEnabled: true, starColor: 'red' };
  return { ratingsEnabled: false, starColor: 'black' };
}

/** ratingsTimeoutMs returns how long reviews waits for ratings: 10 s for black stars (v2), 2.5 s for any other colour (v3), as Istio's reviews does. */
export function ratingsTimeoutMs(starColor: string): number {
  return starColor === 'black' ? 10_000 : 2_500;
}

const REVIEWS = [
  { reviewer: 'Reviewer1', text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!' },
  { reviewer: 'Reviewer2', text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.' },
];

/** reviewsHandler returns the reviews service: GET /reviews/<id> and /health. */
export function reviewsHandler(opts: ReviewsOptions): Handler {
  const timeout = opts.ratingsTimeoutMs ?? ratingsTimeoutMs(opts.starColor);
  return async (req) => {
    if (req.path === '/health') return json(200, { status: 'Reviews is healthy' });
    if (!req.path.startsWith('/reviews/')) return json(404, { error: 'not found' });
    const idText = req.path.slice('/reviews/'.length);
    if (!/^-?\d+$/.test(idText)) return json(400, { error: 'please provide numeric product ID' });
    const id = Number(idText);
    let stars: Record<string, unknown> | undefined;
    if (opts.ratingsEnabled) {
      try {
        const res = await opts.upstream.get(`${opts.ratingsUrl}/ratings/${id}`, forwardHeaders(req.headers), timeout);
        if (res.status === 200) stars = ((JSON.parse(res.body) as { ratings?: Record<string, unknown> }).ratings ?? {}) as Record<string, unknown>;
      } catch {
        // Refused, reset, timed out or not JSON: the reviews below say ratings is unavailable.
      }
    }
    const reviews = REVIEWS.map((r) => {
      if (!opts.ratingsEnabled) return r;
      const n = stars?.[r.reviewer];
      return typeof n === 'number' ? { ...r, rating: { stars: n, color: opts.starColor } } : { ...r, rating: { error: RATINGS_UNAVAILABLE } };
    });
    return json(200, { id: String(id), podname: opts.podName, clustername: opts.clusterName ?? 'null', reviews });
  };
}
