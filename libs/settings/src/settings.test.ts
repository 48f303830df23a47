import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError, settingsTable, type SettingDef } from './settings.js';

const DEFS = [
  { key: 'xdsPort', flag: 'xds-port', env: 'PILOT_XDS_PORT', type: 'port', default: '15010', description: 'xDS plaintext port' },
  { key: 'debounce', flag: 'debounce', env: 'PILOT_DEBOUNCE', type: 'duration', default: '100ms', description: 'quiet period before a push' },
  { key: 'configDir', flag: 'config-dir', env: 'PILOT_CONFIG_DIR', type: 'string', description: 'directory of YAML config' },
  { key: 'verbose', flag: 'verbose', env: 'PILOT_VERBOSE', type: 'bool', default: 'false', description: 'log more' },
  { key: 'peers', flag: 'peers', env: 'PILOT_PEERS', type: 'list', default: '', description: 'peer addresses' },
] as const satisfies readonly SettingDef[];

const parse = (argv: string[], env: Record<string, string> = {}) => parseSettings({ name: 'meshwork-pilot', description: 'test' }, DEFS, argv, env, () => undefined);

describe('parseSettings', () => {
  it('applies defaults, then environment, then flags', () => {
    expect(parse([])).toEqual({ xdsPort: 15010, debounce: 100, configDir: undefined, verbose: false, peers: [] });
    expect(parse([], { PILOT_XDS_PORT: '20000', PILOT_PEERS: 'a:1, b:2' })).toMatchObject({ xdsPort: 20000, peers: ['a:1', 'b:2'] });
    expect(parse(['--xds-port', '30000', '--verbose', '--config-dir', '/x'], { PILOT_XDS_PORT: '20000' })).toMatchObject({ xdsPort: 30000, verbose: true, configDir: '/x' });
    expect(parse(['--debounce', '1.5s'])).toMatchObject({ debounce: 1500 });
  });

  it('names the flag, the variable and the reason for bad values', () => {
    expect(() => parse(['--xds-port', '70000'])).toThrow(/--xds-port.*port 70000 must be in the range 0..65535/);
    expect(() => parse([], { PILOT_DEBOUNCE: 'soon' })).toThrow(/PILOT_DEBOUNCE="soon" \(flag --debounce\): invalid duration/);
    expect(() => parse(['--nope'])).toThrow(SettingsError);
  });

  it('prints generated help listing every flag and its env variable', () => {
    let out = '';
    expect(parseSettings({ name: 'meshwork-pilot', description: 'the pilot' }, DEFS, ['--help'], {}, (t) => void (out += t))).toBeUndefined();
    for (const d of DEFS) {
      expect(out).toContain(`--${d.flag}`);
      expect(out).toContain(d.env);
    }
    expect(settingsTable(DEFS)).toContain('| `--xds-port` | `PILOT_XDS_PORT` | port | `15010` | xDS plaintext port |');
  });
});
