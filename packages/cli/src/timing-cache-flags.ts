/** The timing-cache flags of `kiln build`, parsed without native imports (usage errors need no addon). */
import { UsageError } from './errors.js';
import type { CacheFlags, TimingSummary } from './timing-cache.js';

export const CACHE_OPTIONS = {
  timingCacheFile: { type: 'string' },
  noTimingCache: { type: 'boolean' },
  builderOptimizationLevel: { type: 'string' },
  ignoreMismatch: { type: 'boolean' },
} as const;

export function optLevelOf(v: string | undefined, usage: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 5) throw new UsageError(`--builderOptimizationLevel must be an integer 0..5, got '${v}'`, usage);
  return n;
}

export function cacheFlagsOf(v: { timingCacheFile?: string; noTimingCache?: boolean; builderOptimizationLevel?: string; ignoreMismatch?: boolean }, usage: string): CacheFlags {
  if (v.timingCacheFile !== undefined && v.noTimingCache) throw new UsageError('--timingCacheFile and --noTimingCache cannot be used together', usage);
  if (v.timingCacheFile === '') throw new UsageError('--timingCacheFile needs a file path', usage);
  return {
    file: v.timingCacheFile,
    disabled: v.noTimingCache === true,
    builderOptimizationLevel: optLevelOf(v.builderOptimizationLevel, usage),
    ignoreMismatch: v.ignoreMismatch === true,
  };
}

/** `kiln build --json` fields: build_ms, tactic_time_ms, timing_cache {path, hits, misses, set_aside}. */
export function timingJson(t: TimingSummary | null | undefined): Record<string, unknown> {
  if (!t) return {};
  return {
    build_ms: Math.round(t.buildMs * 1000) / 1000,
    tactic_time_ms: Math.round(t.tacticTimeMs * 1000) / 1000,
    timing_cache: { path: t.timingCache.path, hits: t.timingCache.hits, misses: t.timingCache.misses, set_aside: t.timingCache.setAside },
  };
}
