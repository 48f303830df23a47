/**
 * Every flag and environment variable of the Bookinfo sample (STYLE.md 12). `--help` and
 * docs/bookinfo.md are generated from this list; nothing else reads process.env. The environment
 * names are the ones Istio's Bookinfo services read (SERVICES_DOMAIN, DETAILS_HOSTNAME,
 * RATINGS_SERVICE_PORT, STAR_COLOR, ENABLE_RATINGS, SERVICE_VERSION, CLUSTER_NAME), so
 * the same Deployment environment works for both.
 */
import type { SettingDef } from '@meshwork/settings';

/** The flags of `bookinfo`, in --help order. */
export const BOOKINFO_SETTINGS = [
  { key: 'service', flag: 'service', env: 'BOOKINFO_SERVICE', type: 'string', description: 'which Bookinfo service to run: productpage, details, reviews or ratings; required' },
  { key: 'version', flag: 'version', env: 'SERVICE_VERSION', type: 'string', default: 'v1', description: 'service version: reviews v1 (no stars), v2 (black stars), v3 (red stars); ratings v1, v2, v-faulty, v-delayed, v-unavailable, v-unhealthy' },
  { key: 'port', flag: 'port', env: 'BOOKINFO_PORT', type: 'port', default: '9080', description: 'port the service listens on (0 picks a free port; the "bookinfo ready" log line names it)' },
  { key: 'address', flag: 'address', env: 'BOOKINFO_ADDRESS', type: 'string', default: '127.0.0.1', description: 'address the service binds to (loopback: the local mesh reaches it through its sidecar)' },
  { key: 'proxy', flag: 'proxy', env: 'HTTP_PROXY', type: 'string', description: 'explicit HTTP proxy for calls to other services, e.g. the sidecar outbound port http://127.0.0.1:15001; requests then go in absolute form (GET http://reviews:9080/reviews/0). Without it, calls connect directly' },
  // Not `--no-proxy`: commander reads a `--no-` flag as the negation of `--proxy`.
  { key: 'noProxy', flag: 'proxy-bypass', env: 'NO_PROXY', type: 'list', default: '', description: 'hosts called directly even with --proxy: a,b (* for all; example.com also matches its subdomains), as curl reads NO_PROXY' },
  { key: 'servicesDomain', flag: 'services-domain', env: 'SERVICES_DOMAIN', type: 'string', description: 'domain appended to every upstream hostname (reviews.<domain>), as in Istio\'s sample' },
  { key: 'detailsHostname', flag: 'details-hostname', env: 'DETAILS_HOSTNAME', type: 'string', default: 'details', description: 'hostname productpage calls details at' },
  { key: 'detailsPort', flag: 'details-port', env: 'DETAILS_SERVICE_PORT', type: 'port', default: '9080', description: 'port productpage calls details at' },
  { key: 'reviewsHostname', flag: 'reviews-hostname', env: 'REVIEWS_HOSTNAME', type: 'string', default: 'reviews', description: 'hostname productpage calls reviews at' },
  { key: 'reviewsPort', flag: 'reviews-port', env: 'REVIEWS_SERVICE_PORT', type: 'port', default: '9080', description: 'port productpage calls reviews at' },
  { key: 'ratingsHostname', flag: 'ratings-hostname', env: 'RATINGS_HOSTNAME', type: 'string', default: 'ratings', description: 'hostname reviews (and productpage\'s ratings API) call ratings at' },
  { key: 'ratingsPort', flag: 'ratings-port', env: 'RATINGS_SERVICE_PORT', type: 'port', default: '9080', description: 'port reviews (and productpage\'s ratings API) call ratings at' },
  { key: 'enableRatings', flag: 'enable-ratings', env: 'ENABLE_RATINGS', type: 'bool', description: 'reviews: call ratings and show stars; default true for v2 and v3, false otherwise' },
  { key: 'starColor', flag: 'star-color', env: 'STAR_COLOR', type: 'string', description: 'reviews: star colour; default black for v2, red for v3. Black also means the 10 s ratings timeout, any other colour 2.5 s (Istio\'s sample)' },
  { key: 'podName', flag: 'pod-name', env: 'POD_NAME', type: 'string', description: 'reviews: the "podname" in its answers (productpage shows "Reviews served by"); default <service>-<version>. Istio\'s reviews reads HOSTNAME, which on a laptop is the same for every version' },
  { key: 'clusterName', flag: 'cluster-name', env: 'CLUSTER_NAME', type: 'string', description: 'reviews: the "clustername" in its answers' },
  { key: 'sessionSecret', flag: 'session-secret', env: 'BOOKINFO_SESSION_SECRET', type: 'string', description: 'productpage: key that signs the session cookie holding the signed-in user; default a random key per process' },
  { key: 'floodFactor', flag: 'flood-factor', env: 'FLOOD_FACTOR', type: 'int', default: '0', description: 'productpage: extra reviews calls sent (and ignored) with each product page, to demonstrate rate limiting' },
  { key: 'drainTimeout', flag: 'drain-timeout', env: 'BOOKINFO_DRAIN_TIMEOUT', type: 'duration', default: '5s', description: 'on SIGTERM, how long in-flight requests may finish before connections are closed' },
  { key: 'logLevel', flag: 'log-level', env: 'BOOKINFO_LOG_LEVEL', type: 'string', default: 'info', description: 'log level (JSON lines on stdout): debug, info, warn, error' },
] as const satisfies readonly SettingDef[];
