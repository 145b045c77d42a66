/**
 * Flag parsing for the kiln-style commands on node's util.parseArgs (no dependency). Parse
 * failures become UsageError (exit 2) carrying the command's usage line.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';
import type { BackendName } from './model.js';
import type { ShapeFlags } from './shapes.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export const SHAPE_OPTIONS = {
  shapes: { type: 'string' },
  minShapes: { type: 'string' },
  optShapes: { type: 'string' },
  maxShapes: { type: 'string' },
} as const satisfies Options;

export const COMMON_OPTIONS = {
  backend: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export interface Parsed<V> {
  values: V;
  positionals: string[];
}

export function parse<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message, usage);
  }
}

/** Exactly one model path. */
export function onePositional(positionals: string[], what: string, usage: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${what}`, usage);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`, usage);
  return positionals[0];
}

export function backendOf(v: string | undefined, usage: string): BackendName | undefined {
  if (v === undefined) return undefined;
  if (v !== 'cpu' && v !== 'cuda') throw new UsageError(`--backend must be cpu or cuda, got '${v}'`, usage);
  return v;
}

/** A non-negative number flag; `integer` rejects fractions (counts, thread numbers). */
export function numberOf(flag: string, v: string | undefined, fallback: number, usage: string, integer = false): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} must be a non-negative ${integer ? 'integer' : 'number'}, got '${v}'`, usage);
  }
  return n;
}

export function shapeFlagsOf(v: { shapes?: string; minShapes?: string; optShapes?: string; maxShapes?: string }): ShapeFlags {
  return { shapes: v.shapes, minShapes: v.minShapes, optShapes: v.optShapes, maxShapes: v.maxShapes };
}
