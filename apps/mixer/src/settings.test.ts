import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
});
