/**
 * @kiln/timing-cache: where Kiln's per-device tactic timing cache lives and how it is shared safely.
 * The cache format itself (keys, tactics, device header, checksum, merge rules) is native (kiln-core);
 * this package handles files: locations, locking, atomic updates, damaged files, bundles.
 */
export { cacheRoot, installedDir, installedCachePath, defaultCachePath, sanitizeDeviceId, resolveCacheLocation, CACHE_EXTENSION, ENV_VAR } from './location';
export type { CacheLocation, CacheSource, LocationOptions } from './location';
export {
  inspectCache, mergeCaches, exportCache, importCache, pruneCache, deviceIdentity, deviceIdOf, sameDevice,
  timingCacheAvailable, missingNativeFunctions, setTimingCacheNative,
} from './native';
export type { TimingCacheInfo, TimingCacheKeyInfo, TacticTiming, TimingCacheNative } from './native';
export { withFileLock, writeFileAtomic, setAsideName } from './files';
export type { LockOptions } from './files';
export { readCacheForBuild, readCacheStrict, mergeIntoCacheFile, transformCacheFile } from './store';
export type { ReadResult, UpdateResult, Warn } from './store';
export { buildWithTimingCache, timingCacheBuildAvailable } from './build';
export type { TimingCacheBuildOptions, TimingCacheBuildResult, TimingCacheReport } from './build';
export { createBundle, openBundle, installBundle, BUNDLE_FORMAT, BUNDLE_VERSION } from './bundle';
export type { Bundle, BundleManifest, InstallResult } from './bundle';
export { parseDuration } from './duration';
export { listCaches } from './list';
export type { CacheListing } from './list';
