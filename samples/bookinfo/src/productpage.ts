/**
 * productpage: the page a user sees. It asks details and reviews for product 0 and renders both,
 * with Istio's timeouts and retries: details 3 s; reviews 3 s per attempt and two attempts (the
 * "bug" Istio's fault-injection task relies on: a 7 s ratings delay for jason outlasts both reviews
 * attempts, so the page shows "Sorry, product reviews are currently unavailable for this book.");
 * ratings (API only) 3 s. Signing in stores the user in a signed session cookie; every call made
 * while serving a signed-in user carries `end-user: <user>`.
 */
import type { UpstreamClient } from './upstream.js';
import { forwardHeaders } from './headers.js';
import { renderIndex, renderProductPage, type Product } from './html.js';
import { json, type BookinfoRequest, type Handler, type Reply } from './server.js';
import { SESSION_COOKIE, type SessionCodec } from './session.js';

/** The messages productpage shows when a service cannot answer (Istio's wording). */
export const UNAVAILABLE = {
  details: 'Sorry, product details are currently unavailable for this book.',
  reviews: 'Sorry, product reviews are currently unavailable for this book.',
  ratings: 'Sorry, product ratings are currently unavailable for this book.',
} as const;

/** productpage's timeouts and retries, Istio's values. */
export const PRODUCTPAGE_TIMEOUTS = { detailsMs: 3000, reviewsMs: 3000, reviewsAttempts: 2, ratingsMs: 3000 } as const;

/** The store's one product (Istio's). */
export const PRODUCTS: readonly Product[] = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare\'s</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.',
  },
];

/** What productpage needs. */
export interface ProductpageOptions {
  readonly upstream: UpstreamClient;
  /** Base URLs, e.g. http://details:9080. */
  readonly detailsUrl: string;
  readonly reviewsUrl: string;
  readonly ratingsUrl: string;
  readonly session: SessionCodec;
  /** Overrides of PRODUCTPAGE_TIMEOUTS — for tests. */
  readonly timeouts?: Partial<typeof PRODUCTPAGE_TIMEOUTS>;
  /**
   * FLOOD_FACTOR of Istio's productpage: each product page also sends this many extra reviews
   * calls, concurrently and ignored, before its own (to show rate limiting). 0 sends none.
   */
  readonly floodFactor?: number;
}

type Fetched = { status: number; value: Record<string, unknown> };

/** productpageHandler returns the productpage service. */
export function productpageHandler(opts: ProductpageOptions): Handler {
  const t = { ...PRODUCTPAGE_TIMEOUTS, ...opts.timeouts };

  // One call; any answer but 200 with JSON becomes the service's "unavailable" message with the
  // answer's status (500 when there was no answer), as Istio's productpage does.
  const fetchJson = async (url: string, headers: Record<string, string>, timeoutMs: number, message: string): Promise<Fetched> => {
    let status = 500;
    try {
      const res = await opts.upstream.get(url, headers, timeoutMs);
      if (res.status === 200) return { status: 200, value: JSON.parse(res.body) as Record<string, unknown> };
      status = res.status || 500;
    } catch {
      // Refused, reset, timed out, or a 200 that is not JSON (500, as Flask would answer): the message below.
    }
    return { status, value: { error: message } };
  };
  const details = (id: string, h: Record<string, string>): Promise<Fetched> => fetchJson(`${opts.detailsUrl}/details/${id}`, h, t.detailsMs, UNAVAILABLE.details);
  const ratings = (id: string, h: Record<string, string>): Promise<Fetched> => fetchJson(`${opts.ratingsUrl}/ratings/${id}`, h, t.ratingsMs, UNAVAILABLE.ratings);
  const reviews = async (id: string, h: Record<string, string>): Promise<Fetched> => {
    let last: Fetched = { status: 500, value: { error: UNAVAILABLE.reviews } };
    for (let attempt = 0; attempt < t.reviewsAttempts; attempt++) {
      last = await fetchJson(`${opts.reviewsUrl}/reviews/${id}`, h, t.reviewsMs, UNAVAILABLE.reviews);
      if (last.status === 200) return last;
    }
    return last;
  };

  const headersFor = (req: BookinfoRequest): { user: string | undefined; headers: Record<string, string> } => {
    const user = opts.session.userOf(cookieHeader(req));
    return { user, headers: forwardHeaders(req.headers, { fromSession: true, endUser: user }) };
  };
  const back = (req: BookinfoRequest): string => {
    const ref = req.headers.referer;
    return typeof ref === 'string' && ref !== '' ? ref : 'productpage';
  };
  const redirect = (to: string, cookie: string): Reply => ({ status: 302, headers: { location: to, 'set-cookie': cookie, 'content-type': 'text/html; charset=utf-8' }, body: `<a href="${encodeURI(to)}">${encodeURI(to)}</a>` });

  return async (req) => {
    const { path } = req;
    if (path === '/' || path === '/index.html') {
      return html(renderIndex({ details: opts.detailsUrl, reviews: opts.reviewsUrl, ratings: opts.ratingsUrl }));
    }
    if (path === '/health') return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: 'Product page is healthy' };
    if (path === '/login') {
      if (req.method !== 'POST') return json(405, { error: 'method not allowed' });
      const form = new URLSearchParams(req.body);
      const user = form.get('username') ?? req.query.get('username') ?? '';
      return redirect(back(req), `${SESSION_COOKIE}=${opts.session.encode(user)}; Path=/; HttpOnly; SameSite=Lax`);
    }
    if (path === '/logout') return redirect(back(req), `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
    if (path === '/productpage') {
      const { user, headers } = headersFor(req);
      const product = PRODUCTS[0];
      // Sequential, as Istio's productpage: details first, then reviews.
      const d = await details(String(product.id), headers);
      // Istio's productpage waits for the flood to finish before its own reviews call.
      if (opts.floodFactor) await Promise.all(Array.from({ length: opts.floodFactor }, () => reviews(String(product.id), headers)));
      const r = await reviews(String(product.id), headers);
      return html(renderProductPage({ product, user, detailsStatus: d.status, details: d.value, reviewsStatus: r.status, reviews: r.value }));
    }
    if (path === '/api/v1/products') return json(200, PRODUCTS);
    const m = /^\/api\/v1\/products\/([^/]+)(?:\/(reviews|ratings))?$/.exec(path);
    if (m) {
      const { headers } = headersFor(req);
      const id = encodeURIComponent(decodeURIComponent(m[1]));
      const f = m[2] === 'reviews' ? await reviews(id, headers) : m[2] === 'ratings' ? await ratings(id, headers) : await details(id, headers);
      return json(f.status, f.value);
    }
    return json(404, { error: 'not found' });
  };
}

function cookieHeader(req: BookinfoRequest): string | undefined {
  const c = req.headers.cookie;
  return Array.isArray(c) ? c.join('; ') : c;
}

function html(body: string): Reply {
  return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
}
