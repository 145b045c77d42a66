/**
 * A build with the timing cache: resolve the file, read it (setting a damaged one aside), merge the installed
 * bundle for this device under it, build, then merge what the build measured back into the file under its lock.
 */
import { existsSync } from 'node:fs';
import { Builder, KilnError, type BuilderConfig, type Network } from '@kiln/core';
import { installedCachePath, resolveCacheLocation } from './location';
import { deviceIdentity, mergeCaches, timingCacheAvailable } from './native';
import { mergeIntoCacheFile, readCacheForBuild, readCacheStrict, type Warn } from './store';

export interface TimingCacheBuildOptions {
  /** `--timingCacheFile`: this file instead of KILN_TIMING_CACHE or the default. */
  file?: string;
  /** `--noTimingCache`. */
  disabled?: boolean;
  /** `--ignoreMismatch`: use a cache from another device of the same compute capability (entries marked for re-timing). */
  ignoreMismatch?: boolean;
  /** `--builderOptimizationLevel` 0..5. */
  builderOptimizationLevel?: number;
  /** Read the installed (system) tier. Default true. */
  useInstalled?: boolean;
  warn?: Warn;
  env?: NodeJS.ProcessEnv;
}

export interface TimingCacheReport {
  path: string | null;
  hits: number;
  misses: number;
  /** Where a damaged cache file was moved, if one was. */
  setAside: string | null;
  /** The installed bundle merged under the user cache, if any. */
  installed: string | null;
  /** False when the file was not updated (cache off, or it belongs to another device). */
  written: boolean;
}

export interface TimingCacheBuildResult {
  plan: Uint8Array;
  buildMs: number;
  tacticTimeMs: number;
  timingCache: TimingCacheReport;
}

/**
 * What `Builder.buildWithReport` returns. The counts may be flat (`report.hits`) or nested like kiln-core's
 * BuildReport (`report.timingCache.hits`); a rejected input cache is reported (`rejected` code, `warnings`),
 * not thrown. The updated cache bytes come as `timingCache` (top level or on the report).
 */
interface NativeResult {
  plan: Uint8Array;
  report: {
    buildMs: number;
    tacticTimeMs: number;
    hits?: number;
    misses?: number;
    timingCache?: Uint8Array | { hits?: number; misses?: number; entries?: number; rejected?: string | null };
    warnings?: string[];
  };
  timingCache?: Uint8Array;
}

/** Accepts the binding's raw shape too (`{plan, reportJson, timingCache}`). */
function normalize(r: NativeResult & { reportJson?: string }): NativeResult {
  if (r.report === undefined && typeof r.reportJson === 'string') {
    try {
      return { ...r, report: JSON.parse(r.reportJson) as NativeResult['report'] };
    } catch (e) {
      throw new KilnError('KILN_E_INTERNAL', `the build report is not JSON: ${(e as Error).message}`);
    }
  }
  return r;
}

function cacheBytes(r: NativeResult): Uint8Array | undefined {
  if (r.timingCache instanceof Uint8Array) return r.timingCache;
  if (r.report.timingCache instanceof Uint8Array) return r.report.timingCache;
  return undefined;
}

function cacheCounts(r: NativeResult): { hits: number; misses: number; rejected: string | null } {
  const nested = r.report.timingCache instanceof Uint8Array ? undefined : r.report.timingCache;
  return { hits: r.report.hits ?? nested?.hits ?? 0, misses: r.report.misses ?? nested?.misses ?? 0, rejected: nested?.rejected ?? null };
}

type BuildWithReport = (network: Network, config: Record<string, unknown>) => Promise<NativeResult>;

/** True when both the binding's timing-cache functions and `Builder.buildWithReport` are present. */
export function timingCacheBuildAvailable(): boolean {
  return timingCacheAvailable() && typeof (Builder as unknown as { buildWithReport?: unknown }).buildWithReport === 'function';
}

function buildWithReport(): BuildWithReport {
  const f = (Builder as unknown as { buildWithReport?: BuildWithReport }).buildWithReport;
  if (typeof f !== 'function') {
    throw new KilnError('KILN_E_UNSUPPORTED', 'this build of @kiln/core has no Builder.buildWithReport (timing-cache builds); update @kiln/core');
  }
  return f.bind(Builder);
}

function isCode(e: unknown, code: string): boolean {
  return (e as { code?: unknown })?.code === code;
}

export async function buildWithTimingCache(network: Network, config: BuilderConfig, opts: TimingCacheBuildOptions = {}): Promise<TimingCacheBuildResult> {
  const warn: Warn = opts.warn ?? ((m) => process.stderr.write(`kiln: warning: ${m}\n`));
  const backend = config.backend ?? 'cpu';
  const build = buildWithReport();
  let deviceId: string | null = null;
  const device = (): string => (deviceId ??= deviceIdentity(backend));
  const loc = resolveCacheLocation({ file: opts.file, disabled: opts.disabled, deviceId: device, env: opts.env });

  let seed: Uint8Array | null = null;
  let setAside: string | null = null;
  let installed: string | null = null;
  if (loc.path !== null) {
    const user = await readCacheForBuild(loc.path, { warn });
    seed = user.bytes;
    setAside = user.setAside;
    if (opts.useInstalled !== false) {
      const sys = installedCachePath(device());
      if (existsSync(sys)) {
        try {
          const tier = readCacheStrict(sys).bytes;
          // User entries first: the user tier takes precedence over the shipped bundle.
          seed = seed === null ? tier : mergeCaches(seed, tier);
          installed = sys;
        } catch (e) {
          if (!isCode(e, 'KILN_E_CORRUPT_CACHE') && !isCode(e, 'KILN_E_CACHE_MISMATCH')) throw e;
          warn(`installed timing cache '${sys}' not used: ${(e as Error).message}`);
        }
      }
    }
  }

  const full: Record<string, unknown> = { ...config };
  if (seed !== null) full.timingCache = seed;
  if (opts.builderOptimizationLevel !== undefined) full.builderOptimizationLevel = opts.builderOptimizationLevel;
  if (opts.ignoreMismatch) full.ignoreTimingCacheMismatch = true;

  let usable = loc.path !== null;
  let result: NativeResult;
  try {
    result = normalize(await build(network, full));
  } catch (e) {
    if (!isCode(e, 'KILN_E_CACHE_MISMATCH') || seed === null) throw e;
    // Another device's cache: build cold, and leave that file alone.
    warn(`timing cache '${loc.path}' was made on another device and is not used (${(e as Error).message}); pass --ignoreMismatch to use it within one compute capability`);
    delete full.timingCache;
    usable = false;
    result = normalize(await build(network, full));
  }

  const counts = cacheCounts(result);
  for (const w of result.report.warnings ?? []) warn(w);
  if (counts.rejected === 'KILN_E_CACHE_MISMATCH') {
    // The native builder went cold; the file belongs to another device: leave it alone.
    warn(`timing cache '${loc.path}' was made on another device and was not used; pass --ignoreMismatch to use it within one compute capability`);
    usable = false;
  }
  const updated = cacheBytes(result);
  let written = false;
  if (usable && loc.path !== null && updated !== undefined && updated.byteLength > 0) {
    const r = await mergeIntoCacheFile(loc.path, updated, { warn });
    written = r.written;
    setAside ??= r.setAside;
  }
  return {
    plan: new Uint8Array(result.plan.buffer, result.plan.byteOffset, result.plan.byteLength),
    buildMs: result.report.buildMs,
    tacticTimeMs: result.report.tacticTimeMs,
    timingCache: { path: loc.path, hits: counts.hits, misses: counts.misses, setAside, installed, written },
  };
}
