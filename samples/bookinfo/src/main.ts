/**
 * bookinfo: runs one service of the Bookinfo sample (`--service productpage|details|reviews|ratings
 * --version v1|v2|v3 --port 9080 [--proxy http://127.0.0.1:15001]`). Logs JSON lines on stdout;
 * SIGTERM or SIGINT drains in-flight requests and exits 0.
 */
import { pino } from 'pino';
import { parseSettings, SettingsError } from '@meshwork/settings';
import { BookinfoConfigError } from './errors.js';
import { BOOKINFO_SETTINGS } from './settings.js';
import { SERVICES, startBookinfo } from './service.js';

async function main(): Promise<number> {
  let s;
  try {
    s = parseSettings({ name: 'bookinfo', description: `Istio's Bookinfo sample in TypeScript: runs one of its services (${SERVICES.join(', ')}).` }, BOOKINFO_SETTINGS, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  if (!s) return 0; // --help
  if (!s.service) {
    process.stderr.write(`bookinfo: --service (BOOKINFO_SERVICE) is required: one of ${SERVICES.join(', ')}\n`);
    return 2;
  }
  const log = pino({ base: { component: 'bookinfo', service: s.service, version: s.version }, level: s.logLevel });
  let running;
  try {
    running = await startBookinfo({ ...s, service: s.service }, log);
  } catch (err) {
    if (err instanceof BookinfoConfigError) {
      process.stderr.write(`bookinfo: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  log.info({ address: `${running.server.address}:${running.server.port}`, proxy: s.proxy ?? null }, 'bookinfo ready');
  const drainMs = s.drainTimeout;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, drainMs }, 'stopping');
      void running.stop(drainMs).then(() => {
        log.info('stopped');
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bookinfo: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
