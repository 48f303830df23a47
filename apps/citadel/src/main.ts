/**
 * meshwork-citadel entry point: reads settings, starts the CA, stops gracefully on SIGTERM/SIGINT.
 */
import * as grpc from '@grpc/grpc-js';
import { parseSettings, SettingsError } from '@meshwork/settings';
import { startCitadel } from './citadel.js';
import { CITADEL_SETTINGS } from './settings.js';

async function main(): Promise<void> {
  let settings;
  try {
    settings = parseSettings({ name: 'meshwork-citadel', description: 'Meshwork citadel: certificate authority issuing SPIFFE X.509 identities (istio.v1.auth.IstioCertificateService)' }, CITADEL_SETTINGS, process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof SettingsError) {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    throw e;
  }
  if (!settings) return;
  // grpc-js would print its own copy of bind errors; startup failures are reported once, below.
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  let citadel;
  try {
    citadel = await startCitadel(settings);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`meshwork-citadel: cannot start: ${err.message}\n`);
    // Servers bound before the failure would keep the process alive.
    process.exit(1);
  }
  const stop = (): void => {
    void citadel.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

await main();
