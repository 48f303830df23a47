/**
 * meshctl's command tree (istioctl's role). `buildProgram` wires flags to commands; each
 * command lives in commands/ and returns its exit code.
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT, type CliIO } from './io.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output.js';
import { runValidate } from './commands/validate.js';
import { runAnalyze } from './commands/analyze.js';
import { cliVersion, runVersion } from './commands/version.js';
import { runCaRotateRoot, type CitadelAdminOptions } from './commands/ca.js';
import { runJoinTokenCreate, type JoinTokenCreateOptions } from './commands/join-token.js';
import { runApply } from './commands/apply.js';
import { runDelete, runGet } from './commands/get.js';
import { runProxyConfig, runProxyStatus } from './commands/proxy.js';
import { runDashboard, runDown, runStatus, runUp, type UpOptions } from './commands/up.js';
import { registerSloCommands } from './commands/slo.js';

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS as string[]).default('text');
}

function secretDirOption(): Option {
  return new Option('--secret-dir <dir>', "the gateway's local secret directory (its --secret-dir: one subdirectory per credential), for credentialName checks (default MESHCTL_SECRET_DIR)");
}

/** runCli parses argv (without node and script), runs the command and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('meshctl')
    .description('Meshwork command-line client: validate and analyze mesh configuration (Istio-compatible YAML)')
    .version(cliVersion(), '--client-version', 'print the client version and exit')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('validate')
    .description('validate resources from files or directories (recursively) against the mesh API schemas; exits 1 if anything is invalid')
    .requiredOption('-f, --filename <path>', 'file, directory, or - for stdin (repeatable)', collect)
    .option('-n, --namespace <ns>', 'namespace for resources that do not set one', 'default')
    .addOption(outputOption())
    .action(async (opts: { filename: string[]; namespace: string; output: OutputFormat }) => {
      code = await runValidate({ filenames: opts.filename, output: opts.output, namespace: opts.namespace }, io);
    });

  program
    .command('analyze')
    .description('validate, then run cross-resource checks (like istioctl analyze); exits 1 on errors')
    .option('-f, --filename <path>', 'file, directory, or - for stdin (repeatable)', collect, [])
    .option('-n, --namespace <ns>', 'namespace for resources that do not set one', 'default')
    .option('--fail-on-warnings', 'also exit 1 when only warnings are found', false)
    .option('--mesh-root-namespace <ns>', 'the mesh root namespace (mesh-wide policies live there)', 'istio-system')
    .option('--trust-domain <domain>', 'the mesh trust domain', 'cluster.local')
    .option('-L, --list-analyzers', 'list the available analyzers and exit', false)
    .option('--live', "also analyze the running mesh's config (the default without -f); -f files then override resources of the same name", false)
    .option('--pilot <url>', 'pilot config API base URL for live analysis (default: MESHCTL_PILOT, the context file of `meshctl up`, or http://127.0.0.1:15014)')
    .addOption(secretDirOption())
    .addOption(outputOption())
    .action(async (opts: { filename: string[]; namespace: string; failOnWarnings: boolean; meshRootNamespace: string; trustDomain: string; listAnalyzers: boolean; output: OutputFormat; live: boolean; pilot?: string; secretDir?: string }) => {
      code = await runAnalyze(opts, io);
    });

  const pilotOption = (): Option => new Option('--pilot <url>', 'pilot config API base URL (default: MESHCTL_PILOT, the context file of `meshctl up`, or http://127.0.0.1:15014)');

  program
    .command('apply')
    .description('validate resources, then create or update them in the running mesh (nothing is applied if any is invalid)')
    .requiredOption('-f, --filename <path>', 'file, directory, or - for stdin (repeatable)', collect)
    .option('-n, --namespace <ns>', 'namespace for resources that do not set one', 'default')
    .option('--dry-run', 'validate only; send nothing', false)
    .addOption(pilotOption())
    .addOption(secretDirOption())
    .action(async (opts: { filename: string[]; namespace: string; dryRun: boolean; pilot?: string; secretDir?: string }) => {
      code = await runApply(opts, io, io.env ?? {});
    });

  program
    .command('get')
    .description('show resources of a kind (vs, dr, gw, se, pa, ap, ...) from the running mesh')
    .argument('<kind>', 'kind, plural or short name (virtualservice, virtualservices, vs)')
    .argument('[name]', 'one resource')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'list across all namespaces', false)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'wide', 'json', 'yaml']).default('text'))
    .addOption(pilotOption())
    .action(async (kind: string, name: string | undefined, opts: { namespace: string; allNamespaces: boolean; output: OutputFormat | 'wide'; pilot?: string }) => {
      code = await runGet({ kind, name, ...opts }, io, io.env ?? {});
    });

  program
    .command('delete')
    .description('delete resources by kind and name, or those defined in files')
    .argument('[kind]', 'kind, plural or short name')
    .argument('[names...]', 'resource names')
    .option('-f, --filename <path>', 'file, directory, or - for stdin (repeatable)', collect, [])
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--ignore-not-found', 'treat "not found" as success', false)
    .addOption(pilotOption())
    .action(async (kind: string | undefined, names: string[], opts: { filename: string[]; namespace: string; ignoreNotFound: boolean; pilot?: string }) => {
      code = await runDelete({ kind, names, ...opts }, io, io.env ?? {});
    });

  program
    .command('proxy-status')
    .description('show whether each connected proxy has accepted (SYNCED), not yet acknowledged (STALE) or rejected (NACKED) its config')
    .addOption(outputOption())
    .addOption(pilotOption())
    .action(async (opts: { output: OutputFormat; pilot?: string }) => {
      code = await runProxyStatus(opts, io);
    });

  program
    .command('proxy-config')
    .description('show the clusters, listeners, routes or endpoints pilot sent a proxy, or the certificates it holds (secret)')
    .argument('<type>', 'cluster | listener | route | endpoint | secret')
    .argument('<proxy>', 'the proxy\'s node id (see proxy-status); for secret, its admin address (host:port of 15000)')
    .addOption(outputOption())
    .addOption(pilotOption())
    .action(async (type: string, proxy: string, opts: { output: OutputFormat; pilot?: string }) => {
      code = await runProxyConfig({ type, proxy, ...opts }, io);
    });

  program
    .command('up')
    .description('start the local mesh (nats-server, citadel, pilot, mixer, ingress gateway, Bookinfo with sidecars) on loopback, supervised, in the background')
    .option('--state-dir <dir>', 'state directory: CA, NATS store, port plan, logs (default $MESHWORK_HOME or ~/.meshwork/local)')
    .option('--nats-url <url>', 'use this NATS server (with JetStream) instead of starting nats-server')
    .option('--gateway-port <port>', "the ingress gateway's HTTP port (Bookinfo's Gateway port 8080; another free port when busy)", '8080')
    .option('--no-bookinfo', 'do not start the Bookinfo sample')
    .option('--no-well-known-ports', "use any free ports instead of Istio's well-known ones (several meshes on one machine, tests)")
    .option('--no-prometheus', 'do not start Prometheus (started when `prometheus` is on the PATH)')
    .option('--foreground', 'stay in the foreground (Ctrl-C stops the mesh)', false)
    .option('--timeout <seconds>', 'how long to wait for every component to be ready', '180')
    .action(async (opts: UpOptions) => {
      code = await runUp(opts, io);
    });

  program
    .command('down')
    .description('stop the local mesh gracefully (its state is kept: meshctl up resumes it)')
    .option('--state-dir <dir>', 'state directory of the mesh to stop')
    .option('--timeout <seconds>', 'how long to wait for it to stop', '60')
    .action(async (opts: { stateDir?: string; timeout: string }) => {
      code = await runDown(opts, io);
    });

  program
    .command('status')
    .description("show each local mesh component's state, health and restarts")
    .option('--state-dir <dir>', 'state directory of the mesh')
    .addOption(outputOption())
    .action(async (opts: { stateDir?: string; output: OutputFormat }) => {
      code = await runStatus(opts, io);
    });

  program
    .command('dashboard')
    .description("print (and with --open, open) the URL of the local mesh's prometheus, mixer, pilot or Bookinfo product page")
    .argument('<name>', 'prometheus | mixer | pilot | productpage | console')
    .option('--state-dir <dir>', 'state directory of the mesh')
    .option('--open', 'open it in the browser', false)
    .action(async (name: string, opts: { stateDir?: string; open: boolean }) => {
      code = await runDashboard({ name, ...opts }, io);
    });

  program
    .command('version')
    .description("print the client version and, when pilot answers, the control plane's (exit 0 either way)")
    .option('--short', 'print just the version numbers', false)
    .option('--remote <bool>', 'also ask pilot for the control plane version (false: client only)', (v) => v !== 'false', true)
    .addOption(outputOption())
    .addOption(pilotOption())
    .action(async (opts: { output: OutputFormat; short: boolean; remote: boolean; pilot?: string }) => {
      code = await runVersion(opts, io);
    });

  const citadelAdminFlags = (c: Command): Command =>
    c
      .requiredOption('--citadel <host:port>', "citadel's admin API address (port 8061 by default)")
      .option('--state-dir <dir>', "citadel's state directory, for admin-token and root-cert.pem (env CITADEL_STATE_DIR; default .meshwork/citadel)")
      .option('--admin-token-file <file>', 'admin credential file (default <state-dir>/admin-token)')
      .option('--ca-file <file>', "roots that sign citadel's serving certificate (default <state-dir>/root-cert.pem)");
  const joinToken = program.command('join-token').description('Meshwork join tokens: workload credentials for citadel off Kubernetes');
  citadelAdminFlags(joinToken.command('create').description('issue a join token bound to a namespace and service account; prints the token alone on stdout'))
    .requiredOption('--ns <namespace>', 'namespace the token is bound to')
    .requiredOption('--sa <service-account>', 'service account the token is bound to')
    .option('--ttl <duration>', 'token lifetime (Go duration: 1h, 30m)', '1h')
    .action(async (opts: JoinTokenCreateOptions) => {
      code = await runJoinTokenCreate(opts, io);
    });
  const ca = program.command('ca').description("citadel's certificate authority");
  citadelAdminFlags(ca.command('rotate-root').description('introduce a new root: both roots are trusted during the overlap window, new certificates chain to the new root')).action(async (opts: CitadelAdminOptions) => {
    code = await runCaRotateRoot(opts, io);
  });

  registerSloCommands(program, io, (c) => (code = c));

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; everything else commander rejects is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw err;
  }
  return code;
}
