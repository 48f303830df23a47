/**
 * Every flag of meshwork-mixer: the core's (settings.ts) followed by each extension's, in the
 * order of extensions.ts. --help and the table in docs/mixer.md come from this list (refresh the
 * table with `REFRESH_GOLDEN=1 npx vitest run apps/mixer/src/settings.test.ts` after adding an
 * extension with flags).
 */
import type { SettingDef } from '@meshwork/settings';
import { MIXER_EXTENSIONS } from './extensions.js';
import { MIXER_SETTINGS } from './settings.js';

/** allSettings returns the core's flags and the extensions', refusing a flag or key defined twice. */
export function allSettings(): readonly SettingDef[] {
  const all: SettingDef[] = [...MIXER_SETTINGS];
  for (const ext of MIXER_EXTENSIONS) {
    for (const d of ext.settings ?? []) {
      const clash = all.find((x) => x.flag === d.flag || x.key === d.key || x.env === d.env);
      if (clash) throw new Error(`extension "${ext.name}" redefines --${d.flag} (${d.key}, ${d.env}) already defined as --${clash.flag}`);
      all.push(d);
    }
  }
  return all;
}
