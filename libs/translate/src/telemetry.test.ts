import { describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { effectiveAccessLogging, effectiveTracing, hcmTelemetry, ISTIO_TEXT_ACCESS_LOG_FORMAT, telemetryLevels } from './telemetry.js';
import { loadCase } from './testing.js';

/** A productpage sidecar in `default` with the given Telemetry resources. */
function caseWith(telemetries: { name: string; namespace: string; spec: Record<string, unknown> }[], meshConfig?: Record<string, unknown>) {
  return loadCase(
    stringify({
      ...(meshConfig ? { meshConfig } : {}),
      proxy: { id: 'sidecar~10.1.0.20~productpage-v1-abc.default~default.svc.cluster.local', labels: { app: 'productpage', version: 'v1' } },
      services: [],
      configs: telemetries.map((t) => ({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: t.name, namespace: t.namespace }, spec: t.spec })),
    }),
  );
}

describe('which Telemetry applies to a sidecar', () => {
  test('mesh, namespace, workload; other namespaces, other workloads and targetRefs do not apply', () => {
    const c = caseWith([
      { name: 'w', namespace: 'default', spec: { selector: { matchLabels: { app: 'productpage' } }, tracing: [{ randomSamplingPercentage: 3 }] } },
      { name: 'other-app', namespace: 'default', spec: { selector: { matchLabels: { app: 'reviews' } }, tracing: [{ randomSamplingPercentage: 99 }] } },
      { name: 'gw', namespace: 'default', spec: { targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' }], tracing: [{ randomSamplingPercentage: 98 }] } },
      { name: 'ns', namespace: 'default', spec: { tracing: [{ randomSamplingPercentage: 2 }] } },
      { name: 'mesh', namespace: 'istio-system', spec: { tracing: [{ randomSamplingPercentage: 1 }] } },
      { name: 'elsewhere', namespace: 'bookinfo', spec: { tracing: [{ randomSamplingPercentage: 97 }] } },
    ]);
    const levels = telemetryLevels(c.snapshot, c.proxy);
    expect(levels.map((l) => l.tracing?.[0].randomSamplingPercentage)).toEqual([1, 2, 3]);
  });

  test('tracing inherits field by field; access logging takes the most specific entry for the mode', () => {
    const c = caseWith([
      { name: 'mesh', namespace: 'istio-system', spec: { tracing: [{ randomSamplingPercentage: 5, customTags: { a: { literal: { value: 'x' } } } }], accessLogging: [{ providers: [{ name: 'envoy' }] }] } },
      { name: 'w', namespace: 'default', spec: { selector: { matchLabels: { app: 'productpage' } }, tracing: [{ match: { mode: 'CLIENT' }, disableSpanReporting: true }], accessLogging: [{ match: { mode: 'CLIENT' }, providers: [{ name: 'envoy' }], disabled: true }] } },
    ]);
    const levels = telemetryLevels(c.snapshot, c.proxy);
    expect(effectiveTracing(levels, 'SERVER')).toEqual({ randomSamplingPercentage: 5, customTags: { a: { literal: { value: 'x' } } } });
    expect(effectiveTracing(levels, 'CLIENT')).toMatchObject({ randomSamplingPercentage: 5, disableSpanReporting: true });
    expect(effectiveAccessLogging(levels, 'CLIENT')?.disabled).toBe(true);
    expect(effectiveAccessLogging(levels, 'SERVER')?.disabled).toBeUndefined();
    expect(hcmTelemetry(c.snapshot, c.proxy, 'CLIENT')).toEqual({
      tracing: { clientSampling: { value: 100 }, randomSampling: { value: 0 }, overallSampling: { value: 100 }, customTags: [{ tag: 'a', literal: { value: 'x' } }] },
    });
    expect((hcmTelemetry(c.snapshot, c.proxy, 'SERVER').accessLog as unknown[]).length).toBe(1);
  });

  test('no Telemetry: nothing, so the proxy keeps its defaults; unknown providers emit no log', () => {
    expect(hcmTelemetry(caseWith([]).snapshot, caseWith([]).proxy, 'SERVER')).toEqual({});
    const c = caseWith([{ name: 'mesh', namespace: 'istio-system', spec: { accessLogging: [{ providers: [{ name: 'otel-als' }] }] } }]);
    expect(hcmTelemetry(c.snapshot, c.proxy, 'SERVER')).toEqual({});
  });

  test('MeshConfig providers: envoyFileAccessLog path and format (text or JSON labels), defaultProviders when the entry names none', () => {
    const mesh = {
      extensionProviders: [
        { name: 'json-file', envoyFileAccessLog: { path: '/var/log/mesh.json', logFormat: { labels: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } } } },
        { name: 'short', envoyFileAccessLog: { path: '/dev/stderr', logFormat: { text: '%RESPONSE_CODE% %REQ(:PATH)%' } } },
        { name: 'otel', envoyOtelAls: { service: 'otel-collector', port: 4317 } },
      ],
      defaultProviders: { accessLogging: ['short'] },
    };
    const c = caseWith([{ name: 'mesh', namespace: 'istio-system', spec: { accessLogging: [{ match: { mode: 'SERVER' }, providers: [{ name: 'json-file' }, { name: 'otel' }, { name: 'envoy' }] }, { match: { mode: 'CLIENT' } }] } }], mesh);
    const logs = (m: 'CLIENT' | 'SERVER') => (hcmTelemetry(c.snapshot, c.proxy, m).accessLog as { typedConfig: { path: string; logFormat: Record<string, unknown> } }[]).map((l) => [l.typedConfig.path, l.typedConfig.logFormat]);
    expect(logs('SERVER')).toEqual([
      ['/var/log/mesh.json', { jsonFormat: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } }],
      ['/dev/stdout', { textFormatSource: { inlineString: ISTIO_TEXT_ACCESS_LOG_FORMAT } }],
    ]);
    expect(logs('CLIENT')).toEqual([['/dev/stderr', { textFormatSource: { inlineString: '%RESPONSE_CODE% %REQ(:PATH)%\n' } }]]);
  });
});
