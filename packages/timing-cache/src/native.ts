/**
 * The native timing-cache functions of `@kiln/binding`, typed, with coded errors. The file format, merge
 * precedence and device checks all live in Rust (kiln-core); this package only moves bytes between files.
 * Kept behind one interface so that a binding built before the timing cache existed fails with a clear
 * KILN_E_UNSUPPORTED instead of "x is not a function".
 */
import * as binding from '@kiln/binding';
import { KilnError } from '@kiln/core';
import { sanitizeDeviceId } from './location';

export interface TacticTiming {
  /** Tactic id (kiln-core names it `tactic`). */
  tactic?: string;
  id?: string | number;
  medianMs: number;
  minMs?: number;
  samples: number;
  /** Unix time of the measurement, ms. */
  measuredAt: number;
}

/** One key of `timingCacheInfo`: kiln-core reports the winning tactic flat; a `tactics` list is accepted too. */
export interface TimingCacheKeyInfo {
  key: string;
  signature: string;
  tactic?: string;
  medianMs?: number;
  samples?: number;
  measuredAt?: number;
  tactics?: TacticTiming[];
  retime?: boolean;
}

/** `timingCacheInfo` as JSON: `entries` is the key count, `device` the device the timings were measured on. */
export interface TimingCacheInfo {
  entries: number;
  device: Record<string, unknown>;
  version: number;
  keys: TimingCacheKeyInfo[];
  [extra: string]: unknown;
}

export interface NativeBuildReport {
  buildMs: number;
  tacticTimeMs: number;
  hits: number;
  misses: number;
}

/** The native surface this package uses (issue 4's binding additions). */
export interface TimingCacheNative {
  timingCacheInfo(bytes: Uint8Array): string;
  timingCacheMerge(a: Uint8Array, b: Uint8Array): Buffer;
  timingCacheExport(bytes: Uint8Array): string;
  timingCacheImport(jsonl: string): Buffer;
  timingCachePrune(bytes: Uint8Array, olderThanMs: number | null, maxEntries: number | null): Buffer;
  deviceIdentity(backend: string): string;
}

const FUNCTIONS = ['timingCacheInfo', 'timingCacheMerge', 'timingCacheExport', 'timingCacheImport', 'timingCachePrune', 'deviceIdentity'] as const;

let override: TimingCacheNative | null = null;

/**
 * Replaces the native functions (tests of the file handling run against an in-memory format this way).
 * Pass null to go back to the binding.
 */
export function setTimingCacheNative(impl: TimingCacheNative | null): void {
  override = impl;
}

/** Names of the native functions this binding lacks (empty when the timing cache is built in). */
export function missingNativeFunctions(): string[] {
  if (override) return [];
  const b = binding as unknown as Record<string, unknown>;
  return FUNCTIONS.filter((f) => typeof b[f] !== 'function');
}

/** True when the loaded binding has the timing-cache functions. */
export function timingCacheAvailable(): boolean {
  return missingNativeFunctions().length === 0;
}

function coded(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^KILN_E_[A-Z0-9_]+$/.test(code)) return new KilnError(code, err.message, { cause: err });
    return new KilnError('KILN_E_INTERNAL', err.message, { cause: err });
  }
  return new KilnError('KILN_E_INTERNAL', String(err));
}

/** The native functions; throws KILN_E_UNSUPPORTED naming what is missing when the binding predates them. */
export function nativeApi(): TimingCacheNative {
  if (override) return override;
  const missing = missingNativeFunctions();
  if (missing.length > 0) {
    throw new KilnError(
      'KILN_E_UNSUPPORTED',
      `this build of @kiln/binding has no timing cache (missing ${missing.join(', ')}); rebuild the binding with the timing-cache support (pnpm build:binding)`,
    );
  }
  return binding as unknown as TimingCacheNative;
}

/** Calls one native function, turning whatever it throws into a coded KilnError. */
export function call<T>(fn: (n: TimingCacheNative) => T): T {
  const n = nativeApi();
  try {
    return fn(n);
  } catch (e) {
    throw coded(e);
  }
}

export function inspectCache(bytes: Uint8Array): TimingCacheInfo {
  const json = call((n) => n.timingCacheInfo(bytes));
  try {
    return JSON.parse(json) as TimingCacheInfo;
  } catch (e) {
    throw new KilnError('KILN_E_INTERNAL', `timingCacheInfo returned invalid JSON: ${(e as Error).message}`);
  }
}

export const mergeCaches = (a: Uint8Array, b: Uint8Array): Buffer => call((n) => n.timingCacheMerge(a, b));
export const exportCache = (bytes: Uint8Array): string => call((n) => n.timingCacheExport(bytes));
export const importCache = (jsonl: string): Buffer => call((n) => n.timingCacheImport(jsonl));
export const pruneCache = (bytes: Uint8Array, olderThanMs: number | null, maxEntries: number | null): Buffer =>
  call((n) => n.timingCachePrune(bytes, olderThanMs, maxEntries));
export const deviceIdentity = (backend: string): string => call((n) => n.deviceIdentity(backend));

/**
 * One string naming the device a cache was measured on: the device header's `identity` (what
 * `deviceIdentity(backend)` returns; kiln-core's CacheDevice) or `id`, else its canonical JSON (keys
 * sorted), so two caches of one device always compare equal.
 */
export function deviceIdOf(info: Pick<TimingCacheInfo, 'device'>): string {
  const d = info.device;
  if (d && typeof d === 'object' && typeof d.identity === 'string') return d.identity;
  if (d && typeof d === 'object' && typeof d.id === 'string') return d.id;
  return canonicalJson(d);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** True when `id` names the device of `info` (compared as given, or in file-name form). */
export function sameDevice(info: Pick<TimingCacheInfo, 'device'>, id: string): boolean {
  const own = deviceIdOf(info);
  return own === id || sanitizeDeviceId(own) === sanitizeDeviceId(id);
}
