import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSettings, settingsTable } from '@meshwork/settings';
import { BOOKINFO_SETTINGS } from './settings.js';

const doc = join(import.meta.dirname, '../../../docs/bookinfo.md');

describe('bookinfo settings', () => {
  it('docs/bookinfo.md has the table generated from settings.ts (REFRESH_GOLDEN=1 rewrites it)', () => {
    const text = readFileSync(doc, 'utf8');
    const table = settingsTable(BOOKINFO_SETTINGS);
    const re = /(<!-- settings:begin -->)[\s\S]*?(<!-- settings:end -->)/;
    if (process.env.REFRESH_GOLDEN) writeFileSync(doc, text.replace(re, `$1\n${table}\n$2`));
    expect(readFileSync(doc, 'utf8')).toContain(`<!-- settings:begin -->\n${table}\n<!-- settings:end -->`);
  });

  it('reads Istio\'s environment names, and flags win over them', () => {
    const env = { SERVICES_DOMAIN: 'default.svc.cluster.local', RATINGS_HOSTNAME: 'ratings-test', RATINGS_SERVICE_PORT: '9081', STAR_COLOR: 'blue', ENABLE_RATINGS: 'true', HTTP_PROXY: 'http://127.0.0.1:15001' };
    const s = parseSettings({ name: 'bookinfo', description: '' }, BOOKINFO_SETTINGS, ['--service', 'reviews', '--star-color', 'green'], env);
    expect(s).toMatchObject({ service: 'reviews', version: 'v1', port: 9080, servicesDomain: 'default.svc.cluster.local', ratingsHostname: 'ratings-test', ratingsPort: 9081, starColor: 'green', enableRatings: true, proxy: 'http://127.0.0.1:15001', noProxy: [] });
  });
});
