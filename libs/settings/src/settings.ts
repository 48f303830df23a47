/**
 * Declarative settings for deployables (STYLE.md 12): each app lists its flags once, with
 * environment variable, default and description; parsing, `--help` and the docs table are
 * all generated from that list, and nothing else reads process.env.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '@meshwork/api/duration';

export type SettingType = 'string' | 'int' | 'port' | 'bool' | 'duration' | 'list';

/** One flag of a deployable. */
export interface SettingDef<T extends SettingType = SettingType> {
  /** Property name in the parsed settings object (camelCase). */
  readonly key: string;
  /** Long flag without dashes (`xds-port`). */
  readonly flag: string;
  /** Environment variable that sets it when the flag is absent (`PILOT_XDS_PORT`). */
  readonly env: string;
  readonly type: T;
  /** Default as the user would type it (`"15010"`, `"10s"`); absent means optional with no value. */
  readonly default?: string;
  readonly description: string;
}

/** The parsed value of each setting type: durations in milliseconds. */
type ValueOf<T extends SettingType> = T extends 'int' | 'port' | 'duration' ? number : T extends 'bool' ? boolean : T extends 'list' ? string[] : string;

/** Settings<D> is the typed object `parseSettings` returns for a list of definitions. */
export type Settings<D extends readonly SettingDef[]> = {
  [K in D[number] as K['key']]: K extends { default: string } ? ValueOf<K['type']> : ValueOf<K['type']> | undefined;
};

/** convert returns the typed value of `text` for a setting, or throws InvalidArgumentError naming the rule. */
function convert(def: SettingDef, text: string): unknown {
  switch (def.type) {
    case 'string':
      return text;
    case 'int':
    case 'port': {
      if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`expected a whole number, got "${text}"`);
      const n = Number(text);
      if (def.type === 'port' && (n < 0 || n > 65535)) throw new InvalidArgumentError(`port ${n} must be in the range 0..65535 (0 picks a free port)`);
      return n;
    }
    case 'bool':
      if (['true', '1', 'yes', 'on'].includes(text.toLowerCase())) return true;
      if (['false', '0', 'no', 'off'].includes(text.toLowerCase())) return false;
      throw new InvalidArgumentError(`expected true or false, got "${text}"`);
    case 'duration': {
      const d = parseDuration(text);
      if (!d.ok) throw new InvalidArgumentError(d.reason);
      return d.ns / 1e6;
    }
    case 'list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
  }
}

/** A settings error: bad flag or environment value. Apps print it and exit 2. */
export class SettingsError extends Error {
  readonly code = 'MESH_ERR_SETTINGS';
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'SettingsError';
    this.exitCode = exitCode;
  }
}

/**
 * parseSettings returns the typed settings from argv (flags win), then the environment,
 * then defaults. `--help` prints the generated help to `out` and returns `undefined`.
 * Bad values throw SettingsError naming the flag, its env variable and the reason.
 */
export function parseSettings<D extends readonly SettingDef[]>(
  program: { name: string; description: string },
  defs: D,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  out: (text: string) => void = (t) => process.stdout.write(t),
): Settings<D> | undefined {
  const cmd = new Command(program.name).description(program.description).exitOverride().allowExcessArguments(false);
  // Errors are rethrown as SettingsError below, so commander's own error text is not printed.
  cmd.configureOutput({ writeOut: out, writeErr: () => undefined });
  for (const def of defs) {
    const placeholder = def.type === 'bool' ? '[bool]' : `<${def.type === 'list' ? 'a,b' : def.type}>`;
    const opt = new Option(`--${def.flag} ${placeholder}`, `${def.description} (env ${def.env})`).argParser((v: string) => convert(def, v === undefined ? 'true' : v));
    if (def.default !== undefined) opt.default(convert(def, def.default), def.default);
    cmd.addOption(opt);
  }
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return undefined;
      throw new SettingsError(`${program.name}: ${err.message.replace(/^error: /, '')}`);
    }
    throw err;
  }
  const opts = cmd.opts() as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const def of defs) {
    const fromFlag = cmd.getOptionValueSource(camel(def.flag)) === 'cli';
    let value = opts[camel(def.flag)];
    const envText = env[def.env];
    if (!fromFlag && envText !== undefined && envText !== '') {
      try {
        value = convert(def, envText);
      } catch (e) {
        throw new SettingsError(`${program.name}: environment variable ${def.env}="${envText}" (flag --${def.flag}): ${(e as Error).message}`);
      }
    }
    result[def.key] = value;
  }
  return result as Settings<D>;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** settingsTable returns the Markdown table of a deployable's flags for docs/<app>.md. */
export function settingsTable(defs: readonly SettingDef[]): string {
  const rows = defs.map((d) => `| \`--${d.flag}\` | \`${d.env}\` | ${d.type} | ${d.default === undefined ? '—' : `\`${d.default}\``} | ${d.description} |`);
  return ['| flag | environment | type | default | description |', '|---|---|---|---|---|', ...rows].join('\n');
}
