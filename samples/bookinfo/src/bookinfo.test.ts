/**
 * The four services together, each a real HTTP server on an ephemeral loopback port, productpage
 * calling real details, reviews (v1, v2, v3) and ratings directly (no proxy).
 */
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detailsHandler } from './details.js';
import { productpageHandler, UNAVAILABLE } from './productpage.js';
import { ratingsService } from './ratings.js';
import { RATINGS_UNAVAILABLE, reviewsHandler } from './reviews.js';
import { serve, type Handler, type RunningServer } from './server.js';
import { SessionCodec } from './session.js';
import { httpUpstream, type UpstreamClient } from './upstream.js';
import { startBookinfo } from './service.js';

const running: RunningServer[] = [];
const clients: UpstreamClient[] = [];
const seen: Record<string, http.IncomingHttpHeaders[]> = { details: [], ratings: [], reviews: [] };

/** Serves `h`, recording the headers of each request under `name`. */
async function start(h: Handler, name?: string): Promise<string> {
  const s = await serve(async (req) => {
    if (name) seen[name].push(req.headers);
    return h(req);
  }, { port: 0, address: '127.0.0.1' });
  running.push(s);
  return `http://127.0.0.1:${s.port}`;
}
function client(): UpstreamClient {
  const c = httpUpstream();
  clients.push(c);
  return c;
}

const session = new SessionCodec('test-secret');
let ratingsUrl: string;
let detailsUrl: string;
const reviewsUrl: Record<string, string> = {};
const page: Record<string, string> = {};
const productpage = async (reviews: string, details = detailsUrl, timeouts = {}): Promise<string> =>
  start(productpageHandler({ upstream: client(), detailsUrl: details, reviewsUrl: reviews, ratingsUrl, session, timeouts }));

beforeAll(async () => {
  ratingsUrl = await start(ratingsService({ version: 'v1' }).handler, 'ratings');
  detailsUrl = await start(detailsHandler(), 'details');
  for (const [v, enabled, color] of [['v1', false, 'black'], ['v2', true, 'black'], ['v3', true, 'red']] as const) {
    reviewsUrl[v] = await start(reviewsHandler({ upstream: client(), ratingsUrl, ratingsEnabled: enabled, starColor: color, podName: `reviews-${v}-1` }), 'reviews');
    page[v] = await productpage(reviewsUrl[v]);
  }
});
afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(running.map((s) => s.close(100)));
});

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const res = await fetch(url, { headers, redirect: 'manual' });
  return { status: res.status, body: await res.text(), headers: Object.fromEntries(res.headers) };
}
const fullStars = (html: string, color: string): number => {
  const m = [...html.matchAll(/<font color="([a-z]+)">([\s\S]*?)<\/font>/g)].filter((x) => x[1] === color);
  return m.reduce((n, x) => n + (x[2].match(/class="glyphicon glyphicon-star"/g)?.length ?? 0), 0);
};

describe('details, ratings, reviews', () => {
  it('details answers the book, 400 for a non-numeric id, and its health', async () => {
    expect(JSON.parse((await get(`${detailsUrl}/details/0`)).body)).toMatchObject({ id: 0, author: 'William Shakespeare', pages: 200, type: 'paperback', 'ISBN-10': '1234567890' });
    expect((await get(`${detailsUrl}/details/abc`)).status).toBe(400);
    expect(JSON.parse((await get(`${detailsUrl}/health`)).body)).toEqual({ status: 'Details is healthy' });
  });

  it('ratings answers 5 and 4 stars, keeps posted ratings, 400 for a bad id', async () => {
    expect(JSON.parse((await get(`${ratingsUrl}/ratings/0`)).body)).toEqual({ id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
    const posted = await fetch(`${ratingsUrl}/ratings/7`, { method: 'POST', body: JSON.stringify({ Reviewer1: 1, Reviewer2: 2 }) });
    expect(await posted.json()).toEqual({ id: 7, ratings: { Reviewer1: 1, Reviewer2: 2 } });
    expect(JSON.parse((await get(`${ratingsUrl}/ratings/7`)).body).ratings).toEqual({ Reviewer1: 1, Reviewer2: 2 });
    expect((await get(`${ratingsUrl}/ratings/x`)).status).toBe(400);
  });

  it('ratings v-faulty answers 503 when the draw is at most one half', async () => {
    let draw = 0.2;
    const faulty = ratingsService({ version: 'v-faulty', random: () => draw });
    const req = { method: 'GET', path: '/ratings/0', query: new URLSearchParams(), headers: {}, body: '' };
    expect((await faulty.handler(req)).status).toBe(503);
    draw = 0.9;
    expect((await faulty.handler(req)).status).toBe(200);
    faulty.close();
  });

  it('ratings v-unhealthy turns 503 with a failing /health, then back, on its period', async () => {
    const r = ratingsService({ version: 'v-unhealthy', toggleMs: 50 });
    const ask = (path: string): Promise<number> => r.handler({ method: 'GET', path, query: new URLSearchParams(), headers: {}, body: '' }).then((x) => x.status);
    expect([await ask('/ratings/0'), await ask('/health')]).toEqual([200, 200]);
    const flipped = async (want: number): Promise<void> => {
      for (let i = 0; i < 200 && (await ask('/ratings/0')) !== want; i++) await new Promise((res) => setTimeout(res, 10));
    };
    await flipped(503);
    expect(await ask('/health')).toBe(500);
    await flipped(200);
    expect(await ask('/health')).toBe(200);
    r.close();
  });

  it('ratings v-delayed answers late when the draw is at most one half', async () => {
    let draw = 0.1;
    const r = ratingsService({ version: 'v-delayed', random: () => draw, delayMs: 300 });
    const req = { method: 'GET', path: '/ratings/0', query: new URLSearchParams(), headers: {}, body: '' };
    let late = true;
    const slow = r.handler(req).then((x) => ((late = false), x.status));
    draw = 0.9;
    expect((await r.handler(req)).status).toBe(200);
    expect(late).toBe(true);
    expect(await slow).toBe(200);
  });

  it('reviews v1 has no ratings; v2 black and v3 red stars from ratings', async () => {
    const v1 = JSON.parse((await get(`${reviewsUrl.v1}/reviews/0`)).body);
    expect(v1.reviews.map((r: { rating?: unknown }) => r.rating)).toEqual([undefined, undefined]);
    expect(v1.podname).toBe('reviews-v1-1');
    const v2 = JSON.parse((await get(`${reviewsUrl.v2}/reviews/0`)).body);
    expect(v2.reviews.map((r: { rating?: unknown }) => r.rating)).toEqual([{ stars: 5, color: 'black' }, { stars: 4, color: 'black' }]);
    const v3 = JSON.parse((await get(`${reviewsUrl.v3}/reviews/0`)).body);
    expect(v3.reviews.map((r: { rating?: unknown }) => r.rating)).toEqual([{ stars: 5, color: 'red' }, { stars: 4, color: 'red' }]);
  });

  it('reviews v2 says ratings is unavailable when ratings is down, and still answers 200', async () => {
    const dead = await start(async () => ({ status: 500, body: 'boom' }));
    const url = await start(reviewsHandler({ upstream: client(), ratingsUrl: dead, ratingsEnabled: true, starColor: 'black', podName: 'p' }));
    const res = await get(`${url}/reviews/0`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).reviews.map((r: { rating?: unknown }) => r.rating)).toEqual([{ error: RATINGS_UNAVAILABLE }, { error: RATINGS_UNAVAILABLE }]);
  });

  it('reviews gives up on a ratings call past its timeout', async () => {
    const slow = await start(async () => new Promise((r) => setTimeout(() => r({ status: 200, body: '{"ratings":{"Reviewer1":5}}' }), 3000)));
    const url = await start(reviewsHandler({ upstream: client(), ratingsUrl: slow, ratingsEnabled: true, starColor: 'red', podName: 'p', ratingsTimeoutMs: 200 }));
    expect(JSON.parse((await get(`${url}/reviews/0`)).body).reviews[0].rating).toEqual({ error: RATINGS_UNAVAILABLE });
  });
});

describe('productpage', () => {
  it('shows the details and no stars with reviews v1', async () => {
    const res = await get(`${page.v1}/productpage`);
    expect(res.status).toBe(200);
    expect(res.body).toContain('The Comedy of Errors');
    expect(res.body).toContain('<dt>Publisher:</dt><dd>PublisherA</dd>');
    expect(res.body).toContain('An extremely entertaining play by Shakespeare.');
    expect(res.body).not.toContain('glyphicon-star');
    expect(res.body).toContain('reviews-v1-1');
  });

  it.each([
    ['v2', 'black', 'red'],
    ['v3', 'red', 'black'],
  ])('shows reviews %s stars in %s (5 + 4 full, 1 empty)', async (v, color, other) => {
    const { body } = await get(`${page[v]}/productpage`);
    expect(fullStars(body, color)).toBe(9);
    expect(fullStars(body, other)).toBe(0);
    expect(body.match(/glyphicon-star-empty/g)?.length).toBe(1);
  });

  it('signs jason in with a session cookie; reviews and ratings then see end-user: jason; sign out ends it', async () => {
    const login = await fetch(`${page.v2}/login`, { method: 'POST', body: 'username=jason&passwd=x', headers: { 'content-type': 'application/x-www-form-urlencoded', referer: `${page.v2}/productpage` }, redirect: 'manual' });
    expect(login.status).toBe(302);
    expect(login.headers.get('location')).toBe(`${page.v2}/productpage`);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
    expect(cookie).toMatch(/^session=/);
    seen.reviews.length = 0;
    seen.ratings.length = 0;
    const signedIn = await get(`${page.v2}/productpage`, { cookie });
    expect(signedIn.body).toContain('jason ( <a href="logout">sign out</a> )');
    expect(seen.reviews.map((h) => h['end-user'])).toEqual(['jason']);
    expect(seen.ratings.map((h) => h['end-user'])).toEqual(['jason']);

    const logout = await fetch(`${page.v2}/logout`, { headers: { cookie }, redirect: 'manual' });
    expect(logout.status).toBe(302);
    expect(logout.headers.get('set-cookie')).toMatch(/^session=;.*Max-Age=0/);
    seen.reviews.length = 0;
    const anonymous = await get(`${page.v2}/productpage`, { 'end-user': 'jason' });
    expect(anonymous.body).toContain('Sign in');
    expect(seen.reviews.map((h) => h['end-user'])).toEqual([undefined]);
  });

  it('forwards trace headers and x-request-id unchanged to details, reviews and (through reviews) ratings', async () => {
    const trace = {
      'x-request-id': '5a6b7c8d-0000-4000-8000-000000000001',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'congo=t61rcWkgMzE',
      'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-parentspanid': '05e3ac9a4f6e3b90',
      'x-b3-sampled': '1',
      b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90',
      'user-agent': 'bookinfo-test/1',
    };
    for (const k of Object.keys(seen)) seen[k].length = 0;
    await get(`${page.v3}/productpage`, trace);
    for (const name of ['details', 'reviews', 'ratings']) {
      expect(seen[name]).toHaveLength(1);
      for (const [h, v] of Object.entries(trace)) expect(seen[name][0][h], `${name} ${h}`).toBe(v);
    }
  });

  it('shows the sample\'s messages when details and reviews are down, with the page still 200', async () => {
    const down = await start(async () => ({ status: 503, body: 'no healthy upstream' }));
    const url = await productpage(down, down);
    const res = await get(`${url}/productpage`);
    expect(res.status).toBe(200);
    expect(res.body).toContain('Error fetching product details!');
    expect(res.body).toContain(UNAVAILABLE.details);
    expect(res.body).toContain('Error fetching product reviews!');
    expect(res.body).toContain(UNAVAILABLE.reviews);
    const api = await get(`${url}/api/v1/products/0/reviews`);
    expect(api.status).toBe(503);
    expect(JSON.parse(api.body)).toEqual({ error: UNAVAILABLE.reviews });
  });

  it('takes a 200 that is not JSON as a failure: retried, then the message', async () => {
    let attempts = 0;
    const garbled = await start(async () => {
      attempts++;
      return { status: 200, body: '<html>not json</html>' };
    });
    const url = await productpage(garbled);
    expect((await get(`${url}/productpage`)).body).toContain(UNAVAILABLE.reviews);
    expect(attempts).toBe(2);
    const api = await get(`${url}/api/v1/products/0/reviews`);
    expect(api.status).toBe(500);
  });

  it('tries reviews twice with Istio\'s 3 s timeout each, then shows the reviews message', { timeout: 30_000 }, async () => {
    let attempts = 0;
    const hanging = await start(async () => {
      attempts++;
      return new Promise((r) => setTimeout(() => r({ status: 200, body: '{}' }), 10_000));
    });
    const url = await productpage(hanging);
    const res = await get(`${url}/productpage`);
    expect(attempts).toBe(2);
    expect(res.body).toContain(UNAVAILABLE.reviews);
    expect(res.body).toContain('<dt>Pages:</dt><dd>200</dd>');
  });

  it('FLOOD_FACTOR sends that many extra reviews calls with each product page', async () => {
    let calls = 0;
    const counting = await start(async () => {
      calls++;
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '0', podname: 'p', reviews: [] }) };
    });
    const url = await start(productpageHandler({ upstream: client(), detailsUrl, reviewsUrl: counting, ratingsUrl, session, floodFactor: 4 }));
    expect((await get(`${url}/productpage`)).status).toBe(200);
    expect(calls).toBe(5);
  });

  it('answers the product API: products, details, reviews and ratings', async () => {
    expect(JSON.parse((await get(`${page.v1}/api/v1/products`)).body)[0]).toMatchObject({ id: 0, title: 'The Comedy of Errors' });
    expect(JSON.parse((await get(`${page.v1}/api/v1/products/0`)).body)).toMatchObject({ id: 0, publisher: 'PublisherA' });
    expect(JSON.parse((await get(`${page.v2}/api/v1/products/0/reviews`)).body).reviews[0].rating).toEqual({ stars: 5, color: 'black' });
    expect(JSON.parse((await get(`${page.v1}/api/v1/products/0/ratings`)).body)).toEqual({ id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
    expect((await get(`${page.v1}/health`)).body).toBe('Product page is healthy');
  });
});

describe('startBookinfo', () => {
  it('wires reviews v3 from settings: red stars from the ratings it is pointed at', async () => {
    const ratingsPort = Number(new URL(ratingsUrl).port);
    const r = await startBookinfo({ service: 'reviews', version: 'v3', port: 0, address: '127.0.0.1', detailsHostname: 'details', detailsPort: 9080, reviewsHostname: 'reviews', reviewsPort: 9080, ratingsHostname: '127.0.0.1', ratingsPort });
    const body = JSON.parse((await get(`http://127.0.0.1:${r.server.port}/reviews/0`)).body);
    await r.stop(100);
    expect(body.podname).toBe('reviews-v3');
    expect(body.reviews[1].rating).toEqual({ stars: 4, color: 'red' });
  });

  it('rejects an unknown service and a taken port with one clear message', async () => {
    const base = { version: 'v1', address: '127.0.0.1', detailsHostname: 'd', detailsPort: 1, reviewsHostname: 'r', reviewsPort: 1, ratingsHostname: 'r', ratingsPort: 1 };
    await expect(startBookinfo({ ...base, service: 'catalog', port: 0 })).rejects.toThrow('"catalog" is not a Bookinfo service');
    await expect(startBookinfo({ ...base, service: 'details', port: running[0].port })).rejects.toMatchObject({ code: 'MESH_ERR_BOOKINFO_CONFIG', message: `port ${running[0].port} on 127.0.0.1 is already in use` });
  });
});
