/**
 * The builder call shared by `kiln build` and `kiln trtexec`, with the timing cache (packages/timing-cache)
 * when this build has one. A binding without the timing cache still builds when no cache flag was given
 * (the default system cache is an optimization, not a requirement); explicit flags then fail with a code.
 */
import { Builder, type BuilderConfig, type Network } from '@kiln/core';
import { CliError, UNSUPPORTED } from './errors.js';
import { note } from './report.js';

export interface CacheFlags {
  /** `--timingCacheFile F`. */
  file?: string;
  /** `--noTimingCache`. */
  disabled?: boolean;
  /** `--builderOptimizationLevel 0..5`. */
  builderOptimizationLevel?: number;
  /** `--ignoreMismatch`. */
  ignoreMismatch?: boolean;
}

export interface TimingSummary {
  buildMs: number;
  tacticTimeMs: number;
  timingCache: { path: string | null; hits: number; misses: number; setAside: string | null };
}

export const OPT_LEVELS = [0, 1, 2, 3, 4, 5];

export async function buildNetwork(network: Network, config: BuilderConfig, flags: CacheFlags | undefined): Promise<{ plan: Uint8Array; timing: TimingSummary | null }> {
  if (flags === undefined) return { plan: await Builder.build(network, config), timing: null };
  const tc = await import('@kiln/timing-cache');
  if (!tc.timingCacheBuildAvailable()) {
    const explicit = [flags.file !== undefined && '--timingCacheFile', flags.builderOptimizationLevel !== undefined && '--builderOptimizationLevel', flags.ignoreMismatch && '--ignoreMismatch'].filter(Boolean);
    if (explicit.length > 0) {
      throw new CliError(UNSUPPORTED, `${explicit.join(', ')}: this build of the native binding has no timing cache (missing ${tc.missingNativeFunctions().join(', ') || 'Builder.buildWithReport'}); rebuild it or drop the flag`);
    }
    if (!flags.disabled) note('this build has no timing cache: building without one');
    return { plan: await Builder.build(network, config), timing: null };
  }
  const r = await tc.buildWithTimingCache(network, config, {
    file: flags.file,
    disabled: flags.disabled,
    ignoreMismatch: flags.ignoreMismatch,
    builderOptimizationLevel: flags.builderOptimizationLevel,
    warn: (m) => process.stderr.write(`kiln: warning: ${m}\n`),
  });
  const t = r.timingCache;
  if (t.path !== null) note(`timing cache ${t.path}: ${t.hits} hits, ${t.misses} misses${t.installed ? ` (with installed ${t.installed})` : ''}`);
  return { plan: r.plan, timing: { buildMs: r.buildMs, tacticTimeMs: r.tacticTimeMs, timingCache: { path: t.path, hits: t.hits, misses: t.misses, setAside: t.setAside } } };
}
