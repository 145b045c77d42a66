/**
 * Where timing caches live. The user tier (writable, one file per device) is
 * `envPaths('kiln').cache/timing-cache/<device>.kilntc`; the read-only system tier that `install` fills is its
 * `installed/` folder. `KILN_TIMING_CACHE` (a file path) overrides the user-tier file, `--timingCacheFile`
 * overrides both, `--noTimingCache` turns the cache off.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import envPaths from 'env-paths';

export const CACHE_EXTENSION = '.kilntc';
export const ENV_VAR = 'KILN_TIMING_CACHE';

/** The folder holding the user-tier caches (follows XDG_CACHE_HOME / the platform's cache folder). */
export function cacheRoot(): string {
  // suffix '' gives `kiln`, not env-paths' default `kiln-nodejs`.
  return join(envPaths('kiln', { suffix: '' }).cache, 'timing-cache');
}

/** The read-only system tier: bundles installed with `kiln cache install`. Builds read it, never write it. */
export function installedDir(): string {
  return join(cacheRoot(), 'installed');
}

/**
 * A device id as a portable file name: unsafe characters become '_', and long or rewritten ids get a short
 * hash of the original so two devices never share a file.
 */
export function sanitizeDeviceId(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 80);
  if (safe === id && safe.length > 0) return safe;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 12);
  return `${safe || 'device'}-${hash}`;
}

export function defaultCachePath(deviceId: string): string {
  return join(cacheRoot(), `${sanitizeDeviceId(deviceId)}${CACHE_EXTENSION}`);
}

export function installedCachePath(deviceId: string): string {
  return join(installedDir(), `${sanitizeDeviceId(deviceId)}${CACHE_EXTENSION}`);
}

export type CacheSource = 'flag' | 'env' | 'default' | 'disabled';

export interface CacheLocation {
  /** The writable cache file, or null when the cache is off. */
  path: string | null;
  source: CacheSource;
}

export interface LocationOptions {
  /** `--timingCacheFile`. */
  file?: string;
  /** `--noTimingCache`. */
  disabled?: boolean;
  /** Needed for the default path only; a function so the native call happens only then. */
  deviceId: string | (() => string);
  env?: NodeJS.ProcessEnv;
}

/** The cache file a build uses, by precedence: --noTimingCache, --timingCacheFile, KILN_TIMING_CACHE, default. */
export function resolveCacheLocation(opts: LocationOptions): CacheLocation {
  if (opts.disabled) return { path: null, source: 'disabled' };
  if (opts.file !== undefined && opts.file !== '') return { path: absolute(opts.file), source: 'flag' };
  const env = (opts.env ?? process.env)[ENV_VAR];
  if (env !== undefined && env !== '') return { path: absolute(env), source: 'env' };
  const id = typeof opts.deviceId === 'function' ? opts.deviceId() : opts.deviceId;
  return { path: defaultCachePath(id), source: 'default' };
}

function absolute(p: string): string {
  return isAbsolute(p) ? p : resolve(p);
}
