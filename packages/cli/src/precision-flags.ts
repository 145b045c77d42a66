/**
 * The precision, I/O-format and device flags of build/run/bench/trtexec (issue 3), parsed without native
 * imports so that usage and value errors need no addon. Spellings are trtexec's:
 *   --fp16  --noTF32  --layerPrecisions=conv1:fp32,fc:fp16  --inputIOFormats=fp16:chw,…  --outputIOFormats=…  --device N
 */
import { CliError, UsageError } from './errors.js';

export const INVALID_VALUE = 'KILN_E_INVALID_VALUE';

export const PRECISION_OPTIONS = {
  fp16: { type: 'boolean' },
  noTF32: { type: 'boolean' },
  layerPrecisions: { type: 'string' },
  inputIOFormats: { type: 'string' },
  outputIOFormats: { type: 'string' },
  device: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** What the builder gets from these flags (field names of @kiln/core's BuilderConfig). */
export interface PrecisionFlags {
  fp16?: boolean;
  tf32?: boolean;
  layerPrecisions?: Record<string, 'fp32' | 'fp16'>;
  inputIOFormats?: string[];
  outputIOFormats?: string[];
  device?: number;
}

/** Same list as @kiln/core's IO_FORMATS, repeated so that a bad flag fails before the addon loads. */
export const IO_FORMATS = ['fp32:chw', 'fp16:chw', 'fp32:hwc', 'fp16:hwc'] as const;

/** `fp16:chw,fp32:hwc` → normalized list; a bad entry is KILN_E_INVALID_VALUE naming it. */
export function ioFormatsFlag(flag: string, v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const entries = v.split(',').map((s) => s.trim());
  return entries.map((entry, i) => {
    const norm = entry.toLowerCase();
    if (!(IO_FORMATS as readonly string[]).includes(norm)) {
      throw new CliError(INVALID_VALUE, `${flag}: entry ${i + 1} '${entry}' is not a valid I/O format; use <fp32|fp16>:<chw|hwc> (one per ${flag === '--inputIOFormats' ? 'input' : 'output'}, in order, e.g. ${flag}=fp16:chw)`);
    }
    return norm;
  });
}

/**
 * `name:fp32,other:fp16` → { name: 'fp32', other: 'fp16' }. A layer name may contain ':' (the entry splits on
 * its last ':') or be single-quoted, as in trtexec.
 */
export function layerPrecisionsFlag(v: string | undefined): Record<string, 'fp32' | 'fp16'> | undefined {
  if (v === undefined) return undefined;
  const out: Record<string, 'fp32' | 'fp16'> = {};
  for (const entry of v.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const colon = entry.lastIndexOf(':');
    const name = colon > 0 ? entry.slice(0, colon).replace(/^'(.*)'$/, '$1') : '';
    const precision = colon > 0 ? entry.slice(colon + 1).trim().toLowerCase() : '';
    if (name === '') throw new CliError(INVALID_VALUE, `--layerPrecisions: entry '${entry}' is not <layer name>:<fp32|fp16>`);
    if (precision !== 'fp32' && precision !== 'fp16') {
      throw new CliError(INVALID_VALUE, `--layerPrecisions: entry '${entry}' has precision '${entry.slice(colon + 1)}'; Kiln layers run in fp32 or fp16`);
    }
    out[name] = precision;
  }
  return out;
}

export function deviceFlag(v: string | undefined, usage: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`--device must be a GPU ordinal (0, 1, …; see 'kiln devices'), got '${v}'`, usage);
  return n;
}

export function precisionFlagsOf(
  v: { fp16?: boolean; noTF32?: boolean; layerPrecisions?: string; inputIOFormats?: string; outputIOFormats?: string; device?: string },
  usage: string,
): PrecisionFlags {
  const out: PrecisionFlags = {};
  if (v.fp16) out.fp16 = true;
  if (v.noTF32) out.tf32 = false;
  const lp = layerPrecisionsFlag(v.layerPrecisions);
  if (lp) out.layerPrecisions = lp;
  const inF = ioFormatsFlag('--inputIOFormats', v.inputIOFormats);
  if (inF) out.inputIOFormats = inF;
  const outF = ioFormatsFlag('--outputIOFormats', v.outputIOFormats);
  if (outF) out.outputIOFormats = outF;
  const device = deviceFlag(v.device, usage);
  if (device !== undefined) out.device = device;
  return out;
}
