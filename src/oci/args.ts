// A small argv parser in runc's (urfave/cli) style: flags first, then positionals; `--flag=value`,
// `--flag value`, `-f value`, repeated list flags. Hand-written because the CLI runs 4-5 times per
// container under containerd and loading a full option framework costs startup time.

export type FlagType = 'boolean' | 'string' | 'list';

export interface FlagSpec {
  name: string;
  alias?: string;
  type: FlagType;
  description: string;
  /** Optional value for a boolean-ish flag like `--rootless auto`. */
  valueName?: string;
}

export interface ParsedArgs {
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], stopAtFirstPositional = true): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  const positionals: string[] = [];
  const find = (name: string) => specs.find((s) => s.name === name || s.alias === name);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      if (stopAtFirstPositional && positionals.length >= 1) {
        positionals.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = find(name);
    if (!spec) throw new UsageError(`flag provided but not defined: -${name}`);
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (spec.type === 'boolean') {
      flags[spec.name] = value === undefined ? true : value !== 'false';
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    if (spec.type === 'list') ((flags[spec.name] ??= []) as string[]).push(value);
    else flags[spec.name] = value;
  }
  return { flags, positionals };
}

export function formatHelp(usage: string, description: string, specs: readonly FlagSpec[]): string {
  const lines = [`Usage: hull-oci ${usage}`, '', description, ''];
  if (specs.length) lines.push('Options:');
  for (const s of specs) {
    const names = [s.alias ? `-${s.alias}` : '', `--${s.name}`].filter(Boolean).join(', ');
    const value = s.type === 'boolean' ? '' : ` ${s.valueName ?? 'value'}`;
    lines.push(`  ${(names + value).padEnd(32)} ${s.description}`);
  }
  return lines.join('\n') + '\n';
}
