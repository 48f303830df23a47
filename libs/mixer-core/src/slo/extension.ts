/**
 * The SLO extension of mixer: ServiceLevelObjective resources come from a watched file or
 * directory (`--slo-config`) and/or the mesh-config NATS KV bucket that pilot serves in local
 * mode (`--slo-nats-config`, so `meshctl apply -f slo.yaml` reaches mixer). Every applied
 * request record is counted; every `--slo-eval-interval` the objectives are evaluated into
 * `mesh_slo_*` metrics, and alert changes are published on `mesh.events.slo`.
 *
 * API: `GET /api/slos` (each objective's SLI, budget, burn rates and alerts at the last
 * evaluation) and `GET /api/slos/rules` (the equivalent Prometheus rule file, as `meshctl slo
 * rules` prints it).
 */
import type { FastifyInstance } from 'fastify';
import type { MeshResource, ServiceLevelObjectiveSpec } from '@meshwork/api';
import { eventsSubject } from '@meshwork/bus';
import { KvConfigStore, startDirectorySource, type ConfigSource } from '@meshwork/registry';
import type { SettingDef } from '@meshwork/settings';
import { renderPrometheusRules, type SloResource } from '@meshwork/slo';
import type { MixerContext, MixerExtension, MixerService } from '../extension.js';
import { SloEvaluator } from './evaluator.js';
import { SloCountSharing } from './shared-counts.js';

/** Flags of the SLO extension. */
export const SLO_SETTINGS = [
  { key: 'sloConfig', flag: 'slo-config', env: 'MIXER_SLO_CONFIG', type: 'string', description: 'file or directory of ServiceLevelObjective resources to evaluate (watched for changes)' },
  { key: 'sloNatsConfig', flag: 'slo-nats-config', env: 'MIXER_SLO_NATS_CONFIG', type: 'bool', default: 'true', description: 'also evaluate the ServiceLevelObjectives in the NATS KV bucket mesh-config (local mode: what meshctl apply stores)' },
  { key: 'sloEvalInterval', flag: 'slo-eval-interval', env: 'MIXER_SLO_EVAL_INTERVAL', type: 'duration', default: '10s', description: 'how often objectives are evaluated (metrics updated, alert events published)' },
  { key: 'sloStateBucket', flag: 'slo-state-bucket', env: 'MIXER_SLO_STATE_BUCKET', type: 'string', default: 'mesh-mixer-slo', description: 'JetStream KV bucket where replicas share their SLO counts (evaluated over the sum) and find them again after a restart under the same --replica-name (empty: this replica alone, lost on restart)' },
  { key: 'sloDomainSuffix', flag: 'slo-domain-suffix', env: 'MIXER_SLO_DOMAIN_SUFFIX', type: 'string', default: 'cluster.local', description: 'DNS suffix that completes short SLO hosts (reviews → reviews.<ns>.svc.<suffix>)' },
] as const satisfies readonly SettingDef[];

/** sloResourcesOf returns the ServiceLevelObjectives among validated resources. */
export function sloResourcesOf(resources: readonly MeshResource[]): SloResource[] {
  return resources
    .filter((r) => r.kind === 'ServiceLevelObjective' && r.apiVersion.startsWith('meshwork.io/'))
    .map((r) => ({ name: r.metadata.name ?? '', namespace: r.metadata.namespace ?? 'default', spec: (r.body as { spec: ServiceLevelObjectiveSpec }).spec }));
}

/** registerSloRoutes adds the SLO API to a fastify scope. */
export function registerSloRoutes(app: FastifyInstance, evaluator: SloEvaluator, objectives: () => readonly SloResource[], domainSuffix?: string): void {
  app.get('/api/slos', async () => ({ slos: evaluator.status() }));
  app.get('/api/slos/rules', async (_req, reply) => {
    const out = renderPrometheusRules(objectives(), { domainSuffix });
    reply.header('content-type', 'application/yaml; charset=utf-8');
    return out.yaml;
  });
}

/** sloExtension returns mixer's SLO extension (one line in apps/mixer/src/extensions.ts). */
export const sloExtension: MixerExtension = (() => {
  let state: { evaluator: SloEvaluator; objectives: SloResource[] } | undefined;
  const ensure = (ctx: MixerContext): NonNullable<typeof state> => {
    if (state) return state;
    const s = ctx.settings as Record<string, unknown>;
    const evaluator = new SloEvaluator({
      registry: ctx.registry,
      domainSuffix: s.sloDomainSuffix as string,
      onEvent: (e) => {
        ctx.log.info({ event: e }, `SLO ${e.slo.namespace}/${e.slo.name}: ${e.type === 'slo_alert_firing' ? 'alert firing' : 'alert resolved'} (${e.longWindow}/${e.shortWindow} at ${e.burnRate}x)`);
        ctx.nc.publish(eventsSubject('slo'), JSON.stringify(e));
      },
    });
    state = { evaluator, objectives: [] };
    return state;
  };
  return {
    name: 'slo',
    settings: SLO_SETTINGS,
    routes: (app, ctx) => {
      const st = ensure(ctx);
      registerSloRoutes(app, st.evaluator, () => st.objectives, (ctx.settings as Record<string, unknown>).sloDomainSuffix as string);
    },
    start: async (ctx): Promise<MixerService> => {
      const st = ensure(ctx);
      const s = ctx.settings as Record<string, unknown>;
      const log = { info: (o: object, m?: string) => ctx.log.info(o, m ?? ''), warn: (o: object, m?: string) => ctx.log.warn(o, m ?? ''), debug: (o: object, m?: string) => ctx.log.debug(o, m ?? '') };
      const sources: ConfigSource[] = [];
      if (s.sloConfig) sources.push(await startDirectorySource({ path: s.sloConfig as string, log }));
      if (s.sloNatsConfig) sources.push(await KvConfigStore.open({ nc: ctx.nc, log }));
      const reload = (): void => {
        st.objectives = sources.flatMap((src) => sloResourcesOf(src.list({ kind: 'ServiceLevelObjective' })));
        st.evaluator.setObjectives(st.objectives);
        ctx.log.info({ slos: st.evaluator.objectives }, 'SLOs loaded');
      };
      await Promise.all(sources.map((src) => src.ready()));
      reload();
      const unwatch = sources.map((src) =>
        src.watch((e) => {
          if (e.resource.kind === 'ServiceLevelObjective') reload();
        }),
      );
      const bucket = s.sloStateBucket as string | undefined;
      const sharing = bucket ? await SloCountSharing.open(ctx.nc, bucket, ctx.replica, st.evaluator, ctx.log) : undefined;
      const stopFeed = ctx.records.subscribe((records) => st.evaluator.record(records));
      st.evaluator.evaluate();
      let running: Promise<void> | undefined;
      const timer = setInterval(() => {
        // Evaluate, then share this replica's counts; while a slow KV write runs, rounds are skipped rather than queued.
        if (running) return;
        running = (async () => {
          st.evaluator.evaluate();
          await sharing?.publish().catch((err: Error) => ctx.log.warn({ err: err.message }, 'SLO shared counts: write failed'));
        })().finally(() => (running = undefined));
      }, s.sloEvalInterval as number);
      timer.unref();
      return {
        close: async () => {
          clearInterval(timer);
          await running;
          stopFeed();
          await sharing?.close();
          unwatch.forEach((u) => u());
          for (const src of sources) await src.close();
        },
      };
    },
  };
})();
