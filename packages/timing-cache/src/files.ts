/**
 * File primitives for shared caches: an exclusive cross-process lock (proper-lockfile: a `<file>.lock`
 * directory created atomically, refreshed while held, taken over when stale, so a crashed builder never
 * blocks the others for long) and atomic replacement (temp file in the same folder, fsync, rename), so a
 * reader sees either the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import { KilnError } from '@kiln/core';

export interface LockOptions {
  /** How long to keep trying before giving up (ms). Default 60 s: a merge takes milliseconds, builds queue. */
  timeoutMs?: number;
  /** A lock not refreshed for this long belongs to a dead process and is taken over. Default 10 s. */
  staleMs?: number;
}

/** Runs `fn` holding the exclusive lock of `path` (the file need not exist). */
export async function withFileLock<T>(path: string, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const staleMs = opts.staleMs ?? 10_000;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let compromised: Error | null = null;
  let release: (() => Promise<void>) | null = null;
  // proper-lockfile's own retries are bounded by count; loop on a deadline instead so that eight builders
  // queued on one file all get their turn.
  while (release === null) {
    try {
      release = await lockfile.lock(path, {
        realpath: false,
        stale: staleMs,
        update: Math.max(1000, Math.floor(staleMs / 2)),
        retries: { retries: 20, factor: 1.5, minTimeout: 10, maxTimeout: 250, randomize: true },
        onCompromised: (e) => {
          compromised = e;
        },
      });
    } catch (e) {
      if ((e as { code?: string }).code !== 'ELOCKED' || Date.now() > deadline) {
        throw new KilnError('KILN_E_INVALID_INPUT', `cannot lock timing cache '${path}': ${(e as Error).message}; another build may be stuck holding '${path}.lock'`);
      }
    }
  }
  try {
    const result = await fn();
    if (compromised) {
      throw new KilnError('KILN_E_INTERNAL', `lost the lock of timing cache '${path}' while updating it: ${(compromised as Error).message}`);
    }
    return result;
  } finally {
    await release().catch(() => undefined);
  }
}

/**
 * Replaces `path` with `bytes` atomically: same-folder temp file, fsync, optional chmod, rename over, then a
 * best-effort fsync of the folder so the rename itself is durable.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | string, mode?: number): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    if (mode !== undefined) chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some platforms (Windows) cannot open folders; the data is a cache, the rename is enough.
  }
}

/** `<name>.corrupt-<UTC timestamp>`: where a damaged cache is moved so it can be looked at later. */
export function setAsideName(path: string, now = new Date()): string {
  return `${path}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
}
