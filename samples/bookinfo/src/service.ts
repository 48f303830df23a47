/**
 * Wiring: from the sample's settings to one running service (productpage, details, reviews or
 * ratings) with its upstream client. main.ts only parses flags and calls startBookinfo.
 */
import type { Logger } from 'pino';
import { BookinfoConfigError } from './errors.js';
import { detailsHandler } from './details.js';
import { productpageHandler } from './productpage.js';
import { ratingsService } from './ratings.js';
import { reviewsDefaults, reviewsHandler } from './reviews.js';
import { serve, type Handler, type RunningServer } from './server.js';
import { SessionCodec } from './session.js';
import { httpUpstream, type UpstreamClient } from './upstream.js';

/** The four Bookinfo services. */
export const SERVICES = ['productpage', 'details', 'reviews', 'ratings'] as const;
/** One of the four service names. */
export type ServiceName = (typeof SERVICES)[number];

/** Everything one service needs (the parsed settings, by the same names). */
export interface BookinfoConfig {
  readonly service: string;
  readonly version: string;
  readonly port: number;
  readonly address: string;
  readonly proxy?: string | undefined;
  readonly noProxy?: readonly string[] | undefined;
  readonly servicesDomain?: string | undefined;
  readonly detailsHostname: string;
  readonly detailsPort: number;
  readonly reviewsHostname: string;
  readonly reviewsPort: number;
  readonly ratingsHostname: string;
  readonly ratingsPort: number;
  readonly enableRatings?: boolean | undefined;
  readonly starColor?: string | undefined;
  readonly podName?: string | undefined;
  readonly clusterName?: string | undefined;
  readonly sessionSecret?: string | undefined;
  readonly floodFactor?: number | undefined;
}

/** upstreamUrls returns the base URLs the services call, built as Istio's sample builds them: http://<hostname>[.<SERVICES_DOMAIN>]:<port>. */
export function upstreamUrls(cfg: BookinfoConfig): { details: string; reviews: string; ratings: string } {
  const domain = cfg.servicesDomain ? `.${cfg.servicesDomain}` : '';
  return {
    details: `http://${cfg.detailsHostname}${domain}:${cfg.detailsPort}`,
    reviews: `http://${cfg.reviewsHostname}${domain}:${cfg.reviewsPort}`,
    ratings: `http://${cfg.ratingsHostname}${domain}:${cfg.ratingsPort}`,
  };
}

/** A service's handler and what to release when it stops. */
export interface BookinfoService {
  readonly name: ServiceName;
  readonly handler: Handler;
  close(): void;
}

/** createService returns the handler `cfg.service` names, or throws BookinfoConfigError for an unknown name. */
export function createService(cfg: BookinfoConfig): BookinfoService {
  const name = cfg.service as ServiceName;
  if (!SERVICES.includes(name)) throw new BookinfoConfigError(`--service: "${cfg.service}" is not a Bookinfo service (one of ${SERVICES.join(', ')})`);
  const urls = upstreamUrls(cfg);
  let upstream: UpstreamClient | undefined;
  const client = (): UpstreamClient => (upstream = httpUpstream(cfg.proxy, cfg.noProxy));
  switch (name) {
    case 'details':
      return { name, handler: detailsHandler(), close: () => undefined };
    case 'ratings': {
      const r = ratingsService({ version: cfg.version });
      return { name, handler: r.handler, close: () => r.close() };
    }
    case 'reviews': {
      const d = reviewsDefaults(cfg.version);
      const handler = reviewsHandler({
        upstream: client(),
        ratingsUrl: urls.ratings,
        ratingsEnabled: cfg.enableRatings ?? d.ratingsEnabled,
        starColor: cfg.starColor ?? d.starColor,
        podName: cfg.podName ?? `reviews-${cfg.version}`,
        ...(cfg.clusterName ? { clusterName: cfg.clusterName } : {}),
      });
      return { name, handler, close: () => upstream?.close() };
    }
    case 'productpage': {
      const handler = productpageHandler({ upstream: client(), detailsUrl: urls.details, reviewsUrl: urls.reviews, ratingsUrl: urls.ratings, session: new SessionCodec(cfg.sessionSecret), floodFactor: cfg.floodFactor ?? 0 });
      return { name, handler, close: () => upstream?.close() };
    }
  }
}

/** A started service. */
export interface RunningBookinfo {
  readonly name: ServiceName;
  readonly server: RunningServer;
  /** stop drains (up to `drainMs`) and closes the server, then the upstream connections. */
  stop(drainMs?: number): Promise<void>;
}

/** startBookinfo creates the service `cfg` names and listens on cfg.address:cfg.port. */
export async function startBookinfo(cfg: BookinfoConfig, log?: Logger): Promise<RunningBookinfo> {
  const svc = createService(cfg);
  let server: RunningServer;
  try {
    server = await serve(svc.handler, { port: cfg.port, address: cfg.address, ...(log ? { log } : {}) });
  } catch (err) {
    svc.close();
    const e = err as NodeJS.ErrnoException;
    throw new BookinfoConfigError(e.code === 'EADDRINUSE' ? `port ${cfg.port} on ${cfg.address} is already in use` : `cannot listen on ${cfg.address}:${cfg.port}: ${e.message}`, { cause: err });
  }
  return {
    name: svc.name,
    server,
    stop: async (drainMs) => {
      await server.close(drainMs);
      svc.close();
    },
  };
}
