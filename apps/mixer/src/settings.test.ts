import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHealthThresholds } from '@meshwork/mixer-core';
import { parseSettings, settingsTable } from '@meshwork/settings';
import { allSettings } from './all-settings.js';

const doc = join(import.meta.dirname, '../../../docs/mixer.md');

describe('mixer settings', () => {
  it('docs/mixer.md has the table generated from every flag (REFRESH_GOLDEN=1 rewrites it)', () => {
    const text = readFileSync(doc, 'utf8');
    const table = settingsTable(allSettings());
    const re = /(<!-- settings:begin -->)[\s\S]*?(<!-- settings:end -->)/;
    if (process.env.REFRESH_GOLDEN) writeFileSync(doc, text.replace(re, `$1\n${table}\n$2`));
    expect(readFileSync(doc, 'utf8')).toContain(`<!-- settings:begin -->\n${table}\n<!-- settings:end -->`);
  });

  it('has Istio-like defaults: 15014, stream MESH_TELEMETRY, one shared consumer', () => {
    const s = parseSettings({ name: 'meshwork-mixer', description: '' }, allSettings(), [], {}) as Record<string, unknown>;
    expect([s.metricsPort, s.stream, s.consumer, s.ackWait, s.checkpointInterval]).toEqual([15014, 'MESH_TELEMETRY', 'mixer', 30_000, 1_000]);
  });

  it('graph health thresholds: Kiali\'s by default, from flags or environment (a flag wins), checked as ratios', () => {
    const parse = (args: string[], env: Record<string, string> = {}) => {
      const s = parseSettings({ name: 'meshwork-mixer', description: '' }, allSettings(), args, env) as Record<string, string>;
      return parseHealthThresholds(s.graphDegradedRatio, s.graphFailingRatio);
    };
    expect(parse([])).toEqual({ degraded: 0.001, failing: 0.2 });
    expect(parse(['--graph-degraded-ratio', '0.05', '--graph-failing-ratio', '0.5'])).toEqual({ degraded: 0.05, failing: 0.5 });
    expect(parse(['--graph-failing-ratio=0.3'], { MIXER_GRAPH_DEGRADED_RATIO: '0.01', MIXER_GRAPH_FAILING_RATIO: '0.9' })).toEqual({ degraded: 0.01, failing: 0.3 });
    expect(() => parse(['--graph-degraded-ratio', '0.5', '--graph-failing-ratio', '0.2'])).toThrow(/--graph-degraded-ratio \(0.5\) must be below --graph-failing-ratio \(0.2\)/);
    expect(() => parse(['--graph-failing-ratio', '20%'])).toThrow(/--graph-failing-ratio: "20%" is not an error ratio/);
  });
});
