// Shared argument handling for the verbs: node's parseArgs plus the split between flags and
// `field.path=value` overrides, and one UsageError that main() prints without a stack.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<O extends Options> {
  values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K] extends { multiple: true } ? string[] : string };
  /** Positional arguments that are not overrides. */
  positionals: string[];
  /** `a.b=c` arguments, in order. */
  overrides: string[];
  help: boolean;
}

export function parseVerbArgs<O extends Options>(argv: string[], options: O): Parsed<O> {
  let r: ReturnType<typeof parseArgs>;
  try {
    r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  const positionals: string[] = [];
  const overrides: string[] = [];
  for (const p of r.positionals) (/^[A-Za-z_$][\w$.-]*=/.test(p) ? overrides : positionals).push(p);
  const values = r.values as Parsed<O>['values'] & { help?: boolean };
  return { values, positionals, overrides, help: Boolean(values.help) };
}
