import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSettings, settingsTable } from '@meshwork/settings';
import { GATEWAY_SETTINGS } from './settings.js';

const doc = join(import.meta.dirname, '../../../docs/gateway.md');

describe('docs/gateway.md', () => {
  it('has the settings table generated from settings.ts (REFRESH_GOLDEN=1 rewrites it)', () => {
    const text = readFileSync(doc, 'utf8');
    const table = settingsTable(GATEWAY_SETTINGS);
    const re = /(<!-- settings:begin -->)[\s\S]*?(<!-- settings:end -->)/;
    if (process.env.REFRESH_GOLDEN) writeFileSync(doc, text.replace(re, `$1\n${table}\n$2`));
    expect(readFileSync(doc, 'utf8')).toContain(`<!-- settings:begin -->\n${table}\n<!-- settings:end -->`);
  });
});

describe('defaults', () => {
  it('writes no access log unless asked (Istio default profile: meshConfig.accessLogFile is empty)', () => {
    const program = { name: 'meshwork-gateway', description: '' };
    expect(parseSettings(program, GATEWAY_SETTINGS, [], {})?.accessLog).toBe(false);
    expect(parseSettings(program, GATEWAY_SETTINGS, ['--access-log=true'], {})?.accessLog).toBe(true);
  });
});
