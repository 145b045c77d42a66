/**
 * Checks run feeds against the plan before anything crosses into native code, so a wrong input fails with a
 * KILN_E_INVALID_INPUT that names the input and says what the plan expects.
 */
import { KilnError } from './errors';
import { Tensor, isDataType, typedArrayFor } from './tensor';
import type { IoInfo } from './info';

function fail(message: string): never {
  throw new KilnError('KILN_E_INVALID_INPUT', message);
}

const fmt = (dims: readonly number[]): string => `[${dims.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;

/** A structurally sound tensor (a `Tensor`, or an onnxruntime-like object with type/data/dims). */
function checkTensor(name: string, value: unknown): Tensor {
  if (value instanceof Tensor) return value;
  const v = value as { type?: unknown; data?: unknown; dims?: unknown } | null;
  if (v === null || typeof v !== 'object' || !isDataType(v.type) || !ArrayBuffer.isView(v.data) || !Array.isArray(v.dims)) {
    fail(`input '${name}' must be a Tensor (new Tensor(type, data, dims)), got ${v === null ? 'null' : typeof v}`);
  }
  if (!(v.data instanceof typedArrayFor(v.type))) {
    fail(`input '${name}': a ${v.type} tensor needs a ${typedArrayFor(v.type).name}`);
  }
  try {
    return new Tensor(v.type, v.data as Tensor['data'], v.dims as number[]);
  } catch (e) {
    fail(`input '${name}': ${(e as Error).message}`);
  }
}

/** Indices of the profiles whose [min, max] range contains `dims` (all of them when the input has none). */
function fittingProfiles(io: IoInfo, dims: readonly number[]): number[] {
  const all = io.profiles.map((_, i) => i);
  if (io.profiles.length === 0) return all;
  return all.filter((p) => {
    const [min, max] = [io.profiles[p]![0], io.profiles[p]![2]];
    return dims.every((d, i) => (min[i] ?? d) <= d && d <= (max[i] ?? d));
  });
}

function rangeText(io: IoInfo): string {
  return io.profiles.map(([min, , max], i) => `profile ${i}: ${fmt(min)}..${fmt(max)}`).join('; ');
}

/**
 * Validates `feeds` against the plan's inputs: every input present, no unknown names, dtype and rank equal,
 * static dims equal, dynamic dims inside one optimization profile shared by all inputs.
 */
export function validateFeeds(inputs: readonly IoInfo[], feeds: unknown): Array<[string, Tensor]> {
  if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds)) {
    fail(`run() takes an object mapping input names to Tensors; the plan's inputs are: ${inputs.map((i) => i.name).join(', ')}`);
  }
  const given = feeds as Record<string, unknown>;
  const expected = new Set(inputs.map((i) => i.name));
  const unknown = Object.keys(given).filter((k) => !expected.has(k));
  if (unknown.length > 0) {
    fail(`unknown input${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}; the plan's inputs are: ${[...expected].join(', ')}`);
  }
  const missing = inputs.filter((i) => given[i.name] === undefined).map((i) => i.name);
  if (missing.length > 0) {
    fail(`missing input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')}; the plan needs: ${inputs.map((i) => `${i.name} ${i.dtype}${fmt(i.dims)}`).join(', ')}`);
  }
  let profiles: number[] | null = null;
  const out: Array<[string, Tensor]> = [];
  for (const io of inputs) {
    const t = checkTensor(io.name, given[io.name]);
    if (t.type !== io.dtype) fail(`input '${io.name}' must be ${io.dtype}, got ${t.type}`);
    if (t.dims.length !== io.dims.length) {
      fail(`input '${io.name}' must have rank ${io.dims.length} (shape ${fmt(io.dims)}), got shape ${fmt(t.dims)}`);
    }
    io.dims.forEach((d, i) => {
      if (d >= 0 && t.dims[i] !== d) fail(`input '${io.name}': dimension ${i} must be ${d} (shape ${fmt(io.dims)}), got shape ${fmt(t.dims)}`);
    });
    if (io.dims.some((d) => d < 0) && io.profiles.length > 0) {
      const fit = fittingProfiles(io, t.dims);
      if (fit.length === 0) {
        fail(`input '${io.name}': shape ${fmt(t.dims)} is outside the plan's optimization profiles (${rangeText(io)}); rebuild the plan with a wider --minShapes/--maxShapes range`);
      }
      const common: number[] = profiles === null ? fit : profiles.filter((p) => fit.includes(p));
      if (common.length === 0) {
        fail(`input '${io.name}': shape ${fmt(t.dims)} fits ${fit.map((p) => `profile ${p}`).join(', ')}, but the other inputs fit ${profiles!.map((p) => `profile ${p}`).join(', ')}; all inputs of one run must fit the same profile`);
      }
      profiles = common;
    }
    out.push([io.name, t]);
  }
  return out;
}
