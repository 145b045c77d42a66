/**
 * trtexec-style shape specs (`--shapes`, `--minShapes`, `--optShapes`, `--maxShapes`) and the
 * optimization profile built from them.
 *
 * Syntax: `name:1x3x224x224,other:1x10`. Names may contain ':' (TF-exported `input:0`), so an
 * unquoted entry splits on its LAST ':'; a name may also be single-quoted as trtexec allows
 * (`'input:0':1x3`), which additionally lets it contain ','. An empty dims part means a scalar.
 */
import { CliError, INVALID_PROFILE } from './errors.js';

export type ShapeMap = Map<string, number[]>;

export interface ShapeRange {
  min: number[];
  opt: number[];
  max: number[];
}

function parseDims(text: string, name: string, flag: string): number[] {
  if (text === '') return [];
  return text.split('x').map((d) => {
    if (!/^\d+$/.test(d)) {
      throw new CliError(INVALID_PROFILE, `${flag}: bad dimension '${d}' for input '${name}'; write dims as positive integers joined by 'x', e.g. ${name}:1x3x224x224`);
    }
    const v = Number(d);
    if (!Number.isSafeInteger(v)) throw new CliError(INVALID_PROFILE, `${flag}: dimension ${d} of input '${name}' is too large`);
    return v;
  });
}

/** Parses one flag value. Repeated names are an error (trtexec would silently take the last). */
export function parseShapes(spec: string, flag = '--shapes'): ShapeMap {
  const out: ShapeMap = new Map();
  let i = 0;
  while (i < spec.length) {
    let name: string;
    let dimsText: string;
    if (spec[i] === "'") {
      const close = spec.indexOf("'", i + 1);
      if (close < 0) throw new CliError(INVALID_PROFILE, `${flag}: unterminated quote in '${spec}'`);
      name = spec.slice(i + 1, close);
      if (spec[close + 1] !== ':') throw new CliError(INVALID_PROFILE, `${flag}: expected ':' after quoted name '${name}' in '${spec}'`);
      const end = spec.indexOf(',', close + 2);
      dimsText = spec.slice(close + 2, end < 0 ? spec.length : end);
      i = end < 0 ? spec.length : end + 1;
    } else {
      const end = spec.indexOf(',', i);
      const entry = spec.slice(i, end < 0 ? spec.length : end);
      i = end < 0 ? spec.length : end + 1;
      const colon = entry.lastIndexOf(':');
      if (colon <= 0) {
        throw new CliError(INVALID_PROFILE, `${flag}: entry '${entry}' is not name:dims (e.g. input:1x3x224x224)`);
      }
      name = entry.slice(0, colon);
      dimsText = entry.slice(colon + 1);
    }
    if (name === '') throw new CliError(INVALID_PROFILE, `${flag}: empty input name in '${spec}'`);
    if (out.has(name)) throw new CliError(INVALID_PROFILE, `${flag}: input '${name}' is given twice`);
    out.set(name, parseDims(dimsText, name, flag));
  }
  if (out.size === 0) throw new CliError(INVALID_PROFILE, `${flag}: no shapes given`);
  return out;
}

export interface ShapeFlags {
  shapes?: string;
  minShapes?: string;
  optShapes?: string;
  maxShapes?: string;
}

export interface InputDecl {
  name: string;
  dims: readonly number[]; // -1 = dynamic
}

export interface ProfileResult {
  /** One entry per input that has a range (dynamic inputs, and static ones the user named). */
  profile: Record<string, ShapeRange>;
  /** Inputs whose dynamic dims were defaulted to 1 because no shape flag named them. */
  defaulted: string[];
  /** Inputs whose range was taken from the shape of their `--input` file. */
  fromFiles: string[];
}

const fmt = (d: readonly number[]) => (d.length ? d.join('x') : '(scalar)');

/**
 * Combines the shape flags with the model's declared inputs into one optimization profile.
 * For a name given only some of min/opt/max, the missing ones are taken from opt (or from
 * max/min when opt is missing), as trtexec does; every range is checked against the declared
 * rank and fixed dims and for min <= opt <= max.
 */
export function buildProfile(inputs: readonly InputDecl[], flags: ShapeFlags, fileShapes: ReadonlyMap<string, readonly number[]> = new Map()): ProfileResult {
  const parsed = {
    shapes: flags.shapes !== undefined ? parseShapes(flags.shapes, '--shapes') : new Map<string, number[]>(),
    min: flags.minShapes !== undefined ? parseShapes(flags.minShapes, '--minShapes') : new Map<string, number[]>(),
    opt: flags.optShapes !== undefined ? parseShapes(flags.optShapes, '--optShapes') : new Map<string, number[]>(),
    max: flags.maxShapes !== undefined ? parseShapes(flags.maxShapes, '--maxShapes') : new Map<string, number[]>(),
  };
  const known = new Map(inputs.map((i) => [i.name, i]));
  const names = new Set<string>();
  for (const [flag, m] of [['--shapes', parsed.shapes], ['--minShapes', parsed.min], ['--optShapes', parsed.opt], ['--maxShapes', parsed.max]] as const) {
    for (const name of m.keys()) {
      if (!known.has(name)) {
        throw new CliError(INVALID_PROFILE, `${flag}: the model has no input '${name}'; its inputs are: ${inputs.map((i) => i.name).join(', ') || '(none)'}`);
      }
      names.add(name);
    }
  }
  const profile: Record<string, ShapeRange> = {};
  const defaulted: string[] = [];
  const fromFiles: string[] = [];
  for (const input of inputs) {
    if (!names.has(input.name)) {
      const file = fileShapes.get(input.name);
      // An input file fixes the shape to run at, so build for exactly that shape. A file that
      // does not fit the declared dims is left for the runtime's KILN_E_INVALID_INPUT check.
      const fits = file !== undefined && file.length === input.dims.length && input.dims.every((d, i) => d < 0 || d === file[i]);
      if (fits && input.dims.some((d) => d < 0)) {
        profile[input.name] = { min: [...file], opt: [...file], max: [...file] };
        fromFiles.push(input.name);
      } else if (input.dims.some((d) => d < 0)) {
        const d = input.dims.map((x) => (x < 0 ? 1 : x));
        profile[input.name] = { min: d, opt: [...d], max: [...d] };
        defaulted.push(input.name);
      }
      continue;
    }
    const exact = parsed.shapes.get(input.name);
    let range: ShapeRange;
    if (exact) {
      if (parsed.min.has(input.name) || parsed.opt.has(input.name) || parsed.max.has(input.name)) {
        throw new CliError(INVALID_PROFILE, `input '${input.name}' is given both --shapes and --min/opt/maxShapes; use one or the other`);
      }
      range = { min: exact, opt: [...exact], max: [...exact] };
    } else {
      const mn = parsed.min.get(input.name);
      const op = parsed.opt.get(input.name);
      const mx = parsed.max.get(input.name);
      const opt = (op ?? mx ?? mn) as number[];
      range = { min: mn ?? opt, opt, max: mx ?? opt };
    }
    for (const [which, dims] of Object.entries(range) as Array<[string, number[]]>) {
      if (dims.length !== input.dims.length) {
        throw new CliError(INVALID_PROFILE, `input '${input.name}': ${which} shape ${fmt(dims)} has rank ${dims.length} but the input has rank ${input.dims.length} (${input.dims.map((d) => (d < 0 ? '?' : d)).join('x')})`);
      }
      input.dims.forEach((d, axis) => {
        if (d >= 0 && dims[axis] !== d) {
          throw new CliError(INVALID_PROFILE, `input '${input.name}': ${which} shape ${fmt(dims)} sets dim ${axis} to ${dims[axis]} but that dim is fixed at ${d}`);
        }
      });
    }
    range.min.forEach((_, axis) => {
      if (!(range.min[axis] <= range.opt[axis] && range.opt[axis] <= range.max[axis])) {
        throw new CliError(INVALID_PROFILE, `input '${input.name}': dim ${axis} needs min <= opt <= max but got ${range.min[axis]}, ${range.opt[axis]}, ${range.max[axis]}`);
      }
    });
    profile[input.name] = range;
  }
  return { profile, defaulted, fromFiles };
}

/** The concrete shape to run an input at: the profile's opt, else the declared dims (-1 -> 1). */
export function runShape(input: InputDecl, profile: Record<string, ShapeRange>): number[] {
  const r = profile[input.name];
  if (r) return [...r.opt];
  return input.dims.map((d) => (d < 0 ? 1 : d));
}
