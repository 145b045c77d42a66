/**
 * Reading and updating one cache file safely. Readers need no lock (writers only ever rename complete
 * files into place). Every write is lock → re-read → native merge → atomic replace → unlock, so concurrent
 * builders never drop each other's entries. A damaged file is moved aside (never deleted) and treated as empty.
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { KilnError } from '@kiln/core';
import { setAsideName, withFileLock, writeFileAtomic, type LockOptions } from './files';
import { inspectCache, mergeCaches, type TimingCacheInfo } from './native';

export type Warn = (message: string) => void;

const defaultWarn: Warn = (m) => process.stderr.write(`kiln: warning: ${m}\n`);

export interface ReadResult {
  /** The cache bytes, or null when the file is missing or was damaged. */
  bytes: Buffer | null;
  info: TimingCacheInfo | null;
  /** Where a damaged file was moved, if it was. */
  setAside: string | null;
}

function isCode(e: unknown, code: string): boolean {
  return (e as { code?: unknown })?.code === code;
}

function readIfExists(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if (isCode(e, 'ENOENT')) return null;
    throw new KilnError('KILN_E_INVALID_INPUT', `cannot read timing cache '${path}': ${(e as Error).message}`);
  }
}

/** Reads and validates a cache file without any lock; throws KILN_E_CORRUPT_CACHE for a damaged one. */
export function readCacheStrict(path: string): { bytes: Buffer; info: TimingCacheInfo } {
  const bytes = readIfExists(path);
  if (bytes === null) throw new KilnError('KILN_E_INVALID_INPUT', `timing cache '${path}' does not exist`);
  try {
    return { bytes, info: inspectCache(bytes) };
  } catch (e) {
    if (isCode(e, 'KILN_E_CORRUPT_CACHE')) throw new KilnError('KILN_E_CORRUPT_CACHE', `timing cache '${path}' is damaged: ${(e as Error).message}`);
    throw e;
  }
}

/** Validates `bytes` (already read under the lock); a damaged file is renamed aside and null returned. */
function validateOrSetAside(path: string, bytes: Buffer | null, warn: Warn): ReadResult {
  if (bytes === null) return { bytes: null, info: null, setAside: null };
  try {
    return { bytes, info: inspectCache(bytes), setAside: null };
  } catch (e) {
    if (!isCode(e, 'KILN_E_CORRUPT_CACHE')) throw e;
    const aside = setAsideName(path);
    try {
      renameSync(path, aside);
    } catch (re) {
      // Another process set it aside (or replaced it) first: nothing of ours to move.
      if (!isCode(re, 'ENOENT')) throw new KilnError('KILN_E_INVALID_INPUT', `timing cache '${path}' is damaged and cannot be moved aside: ${(re as Error).message}`);
      return { bytes: null, info: null, setAside: null };
    }
    warn(`timing cache '${path}' is damaged (${(e as Error).message}); moved it to '${aside}' and continuing without it`);
    return { bytes: null, info: null, setAside: aside };
  }
}

/**
 * Reads a cache for a build. A damaged file is set aside under the lock (after re-reading, so a file a
 * concurrent writer just replaced is never moved) and the build goes on cold.
 */
export async function readCacheForBuild(path: string, opts: { warn?: Warn; lock?: LockOptions } = {}): Promise<ReadResult> {
  const warn = opts.warn ?? defaultWarn;
  const bytes = readIfExists(path);
  if (bytes === null) return { bytes: null, info: null, setAside: null };
  try {
    return { bytes, info: inspectCache(bytes), setAside: null };
  } catch (e) {
    if (!isCode(e, 'KILN_E_CORRUPT_CACHE')) throw e;
  }
  return withFileLock(path, () => validateOrSetAside(path, readIfExists(path), warn), opts.lock);
}

export interface UpdateResult {
  /** False when the file on disk belongs to another device and was left alone. */
  written: boolean;
  setAside: string | null;
  info: TimingCacheInfo | null;
}

/**
 * Merges `update` into the cache file under its lock: entries already on disk from other builders are kept.
 * A cache of another device on disk is left untouched (warned about), a damaged one is set aside.
 */
export async function mergeIntoCacheFile(path: string, update: Uint8Array, opts: { warn?: Warn; lock?: LockOptions } = {}): Promise<UpdateResult> {
  const warn = opts.warn ?? defaultWarn;
  return withFileLock(
    path,
    () => {
      const current = validateOrSetAside(path, readIfExists(path), warn);
      let merged: Uint8Array = update;
      if (current.bytes !== null) {
        try {
          // The file is `a`: on a conflict the native merge's precedence decides (documented in kiln-core).
          merged = mergeCaches(current.bytes, update);
        } catch (e) {
          if (!isCode(e, 'KILN_E_CACHE_MISMATCH')) throw e;
          warn(`timing cache '${path}' belongs to another device or tactic library (${(e as Error).message}); not updated`);
          return { written: false, setAside: current.setAside, info: current.info };
        }
      }
      writeFileAtomic(path, merged);
      return { written: true, setAside: current.setAside, info: inspectCache(merged) };
    },
    opts.lock,
  );
}

/**
 * Rewrites the cache file under its lock with `transform(current)` (prune, clear): the transform sees the
 * file as it is at that moment, so nothing a concurrent builder merged in is lost to a stale read.
 * `transform` returning null deletes the file.
 */
export async function transformCacheFile(
  path: string,
  transform: (current: Buffer | null) => Uint8Array | null,
  opts: { warn?: Warn; lock?: LockOptions } = {},
): Promise<{ before: TimingCacheInfo | null; after: TimingCacheInfo | null; setAside: string | null }> {
  const warn = opts.warn ?? defaultWarn;
  return withFileLock(
    path,
    () => {
      const current = validateOrSetAside(path, readIfExists(path), warn);
      const next = transform(current.bytes);
      if (next === null) {
        rmSync(path, { force: true });
        return { before: current.info, after: null, setAside: current.setAside };
      }
      writeFileAtomic(path, next);
      return { before: current.info, after: inspectCache(next), setAside: current.setAside };
    },
    opts.lock,
  );
}

export function cacheExists(path: string): boolean {
  return existsSync(path);
}
