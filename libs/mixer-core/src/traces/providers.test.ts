import { describe, expect, test } from 'vitest';
import { parseMeshConfigText } from '@meshwork/api';
import { tracingExportTargets, type MeshTracingConfig } from './providers.js';

const mesh: MeshTracingConfig = {
  extensionProviders: [
    { name: 'zipkin', zipkin: { service: 'zipkin.istio-system.svc.cluster.local', port: 9411 } },
    { name: 'otel', opentelemetry: { service: 'otel-collector.observability.svc.cluster.local', port: 4318, http: { path: '/v1/traces' } } },
    { name: 'otel-grpc', opentelemetry: { service: 'otel-collector', port: 4317 } },
    { name: 'dd', datadog: { service: 'datadog-agent', port: 8126 } },
  ],
  defaultProviders: { tracing: ['zipkin'] },
};

describe('trace export targets from MeshConfig and the mesh-wide Telemetry', () => {
  test.each([
    ['no Telemetry: defaultProviders', [], ['zipkin http://zipkin.istio-system.svc.cluster.local:9411/api/v2/spans'], 0],
    ['the mesh-wide Telemetry names the providers', [{ tracing: [{ providers: [{ name: 'otel' }, { name: 'zipkin' }] }] }], ['otlp http://otel-collector.observability.svc.cluster.local:4318/v1/traces', 'zipkin http://zipkin.istio-system.svc.cluster.local:9411/api/v2/spans'], 0],
    ['a Telemetry with tracing but no providers keeps the defaults', [{ tracing: [{}] }], ['zipkin http://zipkin.istio-system.svc.cluster.local:9411/api/v2/spans'], 0],
    ['unsupported and unknown providers are warnings', [{ tracing: [{ providers: [{ name: 'otel-grpc' }, { name: 'dd' }, { name: 'nope' }] }] }], [], 3],
  ])('%s', (_n, telemetry, want, warnings) => {
    const r = tracingExportTargets(mesh, telemetry);
    expect(r.targets.map((t) => `${t.kind} ${t.url}`)).toEqual(want);
    expect(r.warnings).toHaveLength(warnings);
  });

  test('MeshConfig from itself, from the istio ConfigMap, from an IstioOperator', () => {
    const m = 'extensionProviders:\n- name: zipkin\n  zipkin: {service: zipkin, port: 9411, path: /spans}\ndefaultProviders: {tracing: [zipkin]}\n';
    const cm = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |\n${m.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
    const iop = `apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n${m.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
    for (const text of [m, cm, iop]) {
      const parsed = parseMeshConfigText(text);
      expect(parsed.ok).toBe(true);
      if (parsed.ok) expect(tracingExportTargets(parsed.value as MeshTracingConfig, []).targets).toEqual([{ name: 'zipkin', kind: 'zipkin', url: 'http://zipkin:9411/spans' }]);
    }
  });
});
