/**
 * The orchestration of buildWithTimingCache (resolve → read/set aside → installed tier → build → locked
 * merge back) over the fake native format and a stand-in Builder.buildWithReport that "times" a list of
 * keys: hits are keys already in the seed cache. The real builder is covered by the CLI end-to-end tests.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Builder, type Network } from '@kiln/core';
import { buildWithTimingCache, defaultCachePath, installedCachePath, setTimingCacheNative, timingCacheBuildAvailable, writeFileAtomic } from '../src/index';
import { FAKE_DEVICE, decode, encode, fakeNative, keysOf, makeCache } from './fake-native';

type Fake = { keys: string[] };
const calls: Array<Record<string, unknown>> = [];
const B = Builder as unknown as { buildWithReport?: unknown };
const original = B.buildWithReport;
let dir: string;
const savedXdg = process.env.XDG_CACHE_HOME;

beforeAll(() => {
  setTimingCacheNative(fakeNative);
  B.buildWithReport = async (network: Fake, config: Record<string, unknown>) => {
    calls.push(config);
    const seed = config.timingCache instanceof Uint8Array ? decode(config.timingCache) : null;
    if (seed && seed.device.identity !== FAKE_DEVICE && !config.ignoreTimingCacheMismatch) {
      const fresh = decode(makeCache(network.keys));
      return {
        plan: Uint8Array.of(1),
        report: { buildMs: 9, tacticTimeMs: 8, timingCache: { hits: 0, misses: network.keys.length, rejected: 'KILN_E_CACHE_MISMATCH' }, warnings: ['the timing cache was not used: other device'] },
        timingCache: encode(fresh),
      };
    }
    const doc = seed ?? decode(makeCache([]));
    const hits = network.keys.filter((k) => k in doc.keys).length;
    const merged = decode(makeCache(network.keys));
    doc.keys = { ...merged.keys, ...doc.keys };
    return {
      plan: Uint8Array.of(1, 2, 3),
      report: { buildMs: 10, tacticTimeMs: (network.keys.length - hits) * 5, timingCache: { hits, misses: network.keys.length - hits, entries: Object.keys(doc.keys).length } },
      timingCache: encode(doc),
    };
  };
});
afterAll(() => {
  B.buildWithReport = original;
  setTimingCacheNative(null);
  if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedXdg;
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-tcb-'));
  process.env.XDG_CACHE_HOME = join(dir, 'xdg');
  calls.length = 0;
});

const net = (keys: string[]) => ({ keys }) as unknown as Network;

describe('buildWithTimingCache', () => {
  it('is available with the native functions and Builder.buildWithReport', () => {
    expect(timingCacheBuildAvailable()).toBe(true);
  });

  it('cold then warm through the default per-device cache', async () => {
    const warnings: string[] = [];
    const cold = await buildWithTimingCache(net(['a', 'b']), { backend: 'cpu' }, { env: {}, warn: (m) => warnings.push(m) });
    expect(cold.timingCache).toMatchObject({ path: defaultCachePath(FAKE_DEVICE), hits: 0, misses: 2, setAside: null, written: true });
    expect(calls[0].timingCache).toBeUndefined();
    expect(keysOf(readFileSync(defaultCachePath(FAKE_DEVICE)))).toEqual(['a', 'b']);
    const warm = await buildWithTimingCache(net(['a', 'b']), { backend: 'cpu' }, { env: {}, builderOptimizationLevel: 4 });
    expect(warm.timingCache).toMatchObject({ hits: 2, misses: 0 });
    expect(warm.tacticTimeMs).toBe(0);
    expect(calls[1].builderOptimizationLevel).toBe(4);
    expect(warnings).toEqual([]);
  });

  it('--noTimingCache passes no cache and writes none', async () => {
    const r = await buildWithTimingCache(net(['a']), {}, { env: {}, disabled: true });
    expect(r.timingCache).toMatchObject({ path: null, written: false, misses: 1 });
    expect(calls[0].timingCache).toBeUndefined();
  });

  it('a half-truncated file is set aside, the build goes on cold and a fresh file is written', async () => {
    const f = join(dir, 'c.kilntc');
    const full = makeCache(['a', 'b']);
    writeFileSync(f, full.subarray(0, full.length >> 1));
    const warnings: string[] = [];
    const r = await buildWithTimingCache(net(['a']), {}, { file: f, warn: (m) => warnings.push(m) });
    expect(r.timingCache.setAside).toMatch(/c\.kilntc\.corrupt-/);
    expect(readFileSync(r.timingCache.setAside!)).toEqual(full.subarray(0, full.length >> 1));
    expect(warnings[0]).toMatch(/is damaged/);
    expect(r.timingCache.misses).toBe(1);
    expect(keysOf(readFileSync(f))).toEqual(['a']);
  });

  it('merges the installed tier under the user cache, never writing it', async () => {
    writeFileAtomic(installedCachePath(FAKE_DEVICE), makeCache(['shipped']), 0o444);
    const before = readFileSync(installedCachePath(FAKE_DEVICE));
    const r = await buildWithTimingCache(net(['shipped', 'own']), {}, { env: {} });
    expect(r.timingCache).toMatchObject({ hits: 1, misses: 1, installed: installedCachePath(FAKE_DEVICE) });
    expect(readFileSync(installedCachePath(FAKE_DEVICE))).toEqual(before);
  });

  it('a cache of another device is not used and not overwritten unless --ignoreMismatch', async () => {
    const f = join(dir, 'gpu.kilntc');
    writeFileSync(f, makeCache(['x'], { device: 'other' }));
    const before = readFileSync(f);
    const warnings: string[] = [];
    const r = await buildWithTimingCache(net(['x']), {}, { file: f, warn: (m) => warnings.push(m) });
    expect(r.timingCache).toMatchObject({ hits: 0, written: false });
    expect(warnings.join('\n')).toMatch(/another device.*--ignoreMismatch/);
    expect(readFileSync(f)).toEqual(before);
    await buildWithTimingCache(net(['x']), {}, { file: f, ignoreMismatch: true, warn: () => undefined });
    expect(calls[1].ignoreTimingCacheMismatch).toBe(true);
  });
});
