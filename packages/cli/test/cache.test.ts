/**
 * `kiln cache …` and the timing-cache flags of `kiln build`.
 * - Every cache command runs in-process over the fake native format of packages/timing-cache/test, so the
 *   file handling is tested whatever the binding has.
 * - The end-to-end acceptance tests (warm vs cold, half-truncated file, eight concurrent builders) spawn the
 *   built CLI and need the native timing cache; they are skipped, saying so, on a binding without it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { cacheRoot, defaultCachePath, installedCachePath, setTimingCacheNative, timingCacheBuildAvailable } from '@kiln/timing-cache';
import { FAKE_DEVICE, fakeNative, keysOf, makeCache } from '../../timing-cache/test/fake-native';
import { cacheCommand } from '../src/commands/cache';
import { convModel } from './conv-models';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'kiln.js');

let dir: string;
const saved = { xdg: process.env.XDG_CACHE_HOME, tc: process.env.KILN_TIMING_CACHE };

function restoreEnv(): void {
  if (saved.xdg === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = saved.xdg;
  if (saved.tc === undefined) delete process.env.KILN_TIMING_CACHE;
  else process.env.KILN_TIMING_CACHE = saved.tc;
}

/** Runs `kiln cache …` in-process, capturing stdout/stderr. */
async function cache(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    return { code: await cacheCommand(args), stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

async function cacheError(args: string[]): Promise<{ code?: string; name: string; message: string }> {
  try {
    await cache(args);
  } catch (e) {
    return { code: (e as { code?: string }).code, name: (e as Error).name, message: (e as Error).message };
  }
  throw new Error(`kiln cache ${args.join(' ')} did not fail`);
}

describe('kiln cache commands (fake native format)', () => {
  beforeAll(() => setTimingCacheNative(fakeNative));
  afterAll(() => {
    setTimingCacheNative(null);
    restoreEnv();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-cache-cli-'));
    process.env.XDG_CACHE_HOME = join(dir, 'xdg');
    delete process.env.KILN_TIMING_CACHE;
  });

  it('path: the per-device default, or KILN_TIMING_CACHE', async () => {
    expect((await cache(['path'])).stdout.trim()).toBe(defaultCachePath(FAKE_DEVICE));
    process.env.KILN_TIMING_CACHE = join(dir, 'mine.kilntc');
    expect((await cache(['path'])).stdout.trim()).toBe(join(dir, 'mine.kilntc'));
  });

  it('ls: caches with entries, device and size, in both tiers', async () => {
    expect((await cache(['ls'])).stdout).toMatch(/^no timing caches/);
    writeFileSync(join(dir, 'a.kilntc'), makeCache(['k1', 'k2']));
    await cache(['import', '-o', defaultCachePath(FAKE_DEVICE), await jsonlOf(join(dir, 'a.kilntc'))]);
    const human = (await cache(['ls'])).stdout;
    expect(human).toContain(`${defaultCachePath(FAKE_DEVICE)}  [user]  2 entries, device ${FAKE_DEVICE}`);
    const j = JSON.parse((await cache(['ls', '--json'])).stdout);
    expect(j.root).toBe(cacheRoot());
    expect(j.caches).toHaveLength(1);
    expect(j.caches[0]).toMatchObject({ tier: 'user', entries: 2, device: FAKE_DEVICE });
  });

  it('show: human and --json with the entries count', async () => {
    const f = join(dir, 'a.kilntc');
    writeFileSync(f, makeCache(['k1', 'k2', 'k3']));
    const j = JSON.parse((await cache(['show', f, '--json'])).stdout);
    expect(j.entries).toBe(3);
    expect(j.device).toEqual({ backend: 'cpu', identity: FAKE_DEVICE, capability: 'x86_64-avx2' });
    expect(j.keys.map((k: { key: string }) => k.key)).toEqual(['k1', 'k2', 'k3']);
    const human = (await cache(['show', f])).stdout;
    expect(human).toContain('entries: 3');
    expect(human).toMatch(/k1 {2}Conv\(k1\) {2}best im2col-gemm median 1.5000 ms/);
    writeFileSync(f, 'truncated');
    expect((await cacheError(['show', f])).code).toBe('KILN_E_CORRUPT_CACHE');
    expect((await cacheError(['show', join(dir, 'nope')])).code).toBe('KILN_E_INVALID_INPUT');
  });

  it('merge: the union of its inputs', async () => {
    const [a, b, c, o] = ['a', 'b', 'c', 'o'].map((n) => join(dir, `${n}.kilntc`));
    writeFileSync(a, makeCache(['1', '2']));
    writeFileSync(b, makeCache(['2', '3']));
    writeFileSync(c, makeCache(['4']));
    expect((await cache(['merge', a, b, c, '-o', o])).stdout).toMatch(/4 entries from 3 caches/);
    expect(keysOf(readFileSync(o))).toEqual(['1', '2', '3', '4']);
    expect((await cacheError(['merge', a, b])).name).toBe('UsageError');
    writeFileSync(c, makeCache(['4'], { device: 'other' }));
    expect((await cacheError(['merge', a, c, '-o', o])).code).toBe('KILN_E_CACHE_MISMATCH');
  });

  it('prune: --older-than and --max-size (keeps the newest)', async () => {
    const f = join(dir, 'p.kilntc');
    const day = 86_400_000;
    writeFileSync(f, makeCache(['old'], { measuredAt: Date.now() - 40 * day }));
    await cache(['import', '-o', f, await jsonlOf(writeTmp(makeCache(['mid'], { measuredAt: Date.now() - 10 * day })))]);
    await cache(['import', '-o', f, await jsonlOf(writeTmp(makeCache(['new'])))]);
    expect((await cache(['prune', f, '--older-than', '30d'])).stdout).toMatch(/3 → 2 entries/);
    expect(keysOf(readFileSync(f))).toEqual(['mid', 'new']);
    await cache(['prune', f, '--max-size', '1']);
    expect(keysOf(readFileSync(f))).toEqual(['new']);
    expect((await cacheError(['prune', f])).name).toBe('UsageError');
    expect((await cacheError(['prune', f, '--max-size', '-1'])).name).toBe('UsageError');
    expect((await cacheError(['prune', f, '--older-than', 'soon'])).code).toBe('KILN_E_INVALID_INPUT');
  });

  it('clear: the cache in effect, or --all', async () => {
    const def = defaultCachePath(FAKE_DEVICE);
    await cache(['import', '-o', def, await jsonlOf(writeTmp(makeCache(['a'])))]);
    expect(existsSync(def)).toBe(true);
    expect((await cache(['clear'])).stdout).toMatch(/removed 1 timing cache$/m);
    expect(existsSync(def)).toBe(false);
    await cache(['import', '-o', def, await jsonlOf(writeTmp(makeCache(['a'])))]);
    await cache(['import', '-o', join(cacheRoot(), 'other.kilntc'), await jsonlOf(writeTmp(makeCache(['b'])))]);
    expect((await cache(['clear', '--all'])).stdout).toMatch(/removed 2 timing caches/);
    expect(readdirSync(cacheRoot()).filter((f) => f.endsWith('.kilntc'))).toEqual([]);
  });

  it('export / import: JSON lines round trip, to stdout or -o', async () => {
    const f = join(dir, 'e.kilntc');
    writeFileSync(f, makeCache(['x', 'y']));
    const lines = (await cache(['export', f])).stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const l of lines) JSON.parse(l);
    const jsonl = join(dir, 'e.jsonl');
    await cache(['export', f, '-o', jsonl]);
    expect(readFileSync(jsonl, 'utf8').trim().split('\n')).toEqual(lines);
    const g = join(dir, 'g.kilntc');
    expect((await cache(['import', jsonl, '-o', g])).stdout).toMatch(/2 entries/);
    expect(keysOf(readFileSync(g))).toEqual(['x', 'y']);
    // Import merges into what is there.
    writeFileSync(jsonl, fakeNative.timingCacheExport(makeCache(['z'])));
    await cache(['import', jsonl, '-o', g]);
    expect(keysOf(readFileSync(g))).toEqual(['x', 'y', 'z']);
    writeFileSync(jsonl, 'not json\n');
    expect((await cacheError(['import', jsonl, '-o', g])).code).toBe('KILN_E_CORRUPT_CACHE');
  });

  it('bundle / install: manifest with sha256, verified, read-only in the system tier', async () => {
    const src = join(dir, 's.kilntc');
    writeFileSync(src, makeCache(['a', 'b']));
    const out = join(dir, 'dev.kilntc-bundle.json');
    expect((await cache(['bundle', '--device', FAKE_DEVICE, '--from', src, '-o', out])).stdout).toMatch(/2 entries/);
    const b = JSON.parse(readFileSync(out, 'utf8'));
    expect(b.manifest).toMatchObject({ device: FAKE_DEVICE, entries: 2 });
    expect(b.manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await cache(['install', out])).stdout).toMatch(/installed 2 entries/);
    expect(keysOf(readFileSync(installedCachePath(FAKE_DEVICE)))).toEqual(['a', 'b']);
    const listed = JSON.parse((await cache(['ls', '--json'])).stdout).caches;
    expect(listed.map((c: { tier: string }) => c.tier)).toEqual(['installed']);
    // A damaged bundle is refused.
    b.cache = Buffer.from(makeCache(['c'])).toString('base64');
    writeFileSync(out, JSON.stringify(b));
    expect((await cacheError(['install', out])).code).toBe('KILN_E_CORRUPT_CACHE');
    expect((await cacheError(['bundle', '--device', 'other', '--from', src, '-o', out])).code).toBe('KILN_E_CACHE_MISMATCH');
    expect((await cacheError(['bundle', '-o', out])).name).toBe('UsageError');
  });

  it('usage errors', async () => {
    for (const args of [[], ['frob'], ['show', 'a', 'b'], ['ls', '--nope'], ['install']]) {
      expect((await cacheError(args)).name).toBe('UsageError');
    }
    expect((await cache(['--help'])).stdout).toMatch(/^usage: kiln cache/);
  });
});

function writeTmp(bytes: Uint8Array): string {
  const f = join(dir, `t-${Math.random().toString(36).slice(2)}.kilntc`);
  writeFileSync(f, bytes);
  return f;
}

async function jsonlOf(file: string): Promise<string> {
  const out = `${file}.jsonl`;
  writeFileSync(out, fakeNative.timingCacheExport(readFileSync(file)));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// End to end with the native timing cache (the acceptance tests of issue 4).

const native = (() => {
  try {
    return timingCacheBuildAvailable();
  } catch {
    return false;
  }
})();

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, XDG_CACHE_HOME: join(dir, 'xdg'), ...extra };
}

function kiln(args: string[], extra: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: env(extra), timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function kilnAsync(args: string[], extra: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: env(extra) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += String(d)));
    p.stderr.on('data', (d) => (stderr += String(d)));
    p.on('error', reject);
    p.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

function keysIn(file: string): string[] {
  const r = kiln(['cache', 'show', file, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout).keys as Array<{ key: string }>).map((k) => k.key).sort();
}

describe.skipIf(!native)('end to end with the native timing cache', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-cache-e2e-'));
  });
  afterAll(restoreEnv);

  function model(i: number): string {
    const f = join(dir, `conv${i}.onnx`);
    if (!existsSync(f)) writeFileSync(f, convModel(i));
    return f;
  }

  it('warm rebuild: zero misses and at least 10x less tactic time than cold', () => {
    const tc = join(dir, 'w.kilntc');
    const cold = kiln(['build', model(3), '-o', join(dir, 'a.plan'), '--json'], { KILN_TIMING_CACHE: tc });
    expect(cold.status, cold.stderr).toBe(0);
    const c = JSON.parse(cold.stdout);
    expect(c.timing_cache).toMatchObject({ path: tc, hits: 0, set_aside: null });
    expect(c.timing_cache.misses).toBeGreaterThan(0);
    expect(c.build_ms).toBeGreaterThan(0);
    const warm = JSON.parse(kiln(['build', model(3), '-o', join(dir, 'b.plan'), '--json'], { KILN_TIMING_CACHE: tc }).stdout);
    expect(warm.timing_cache.misses).toBe(0);
    expect(warm.timing_cache.hits).toBe(c.timing_cache.misses);
    expect(warm.tactic_time_ms * 10).toBeLessThanOrEqual(c.tactic_time_ms);
    // The same tactics are chosen.
    const tactics = (plan: string) => (JSON.parse(kiln(['inspect', plan, '--json']).stdout).layers as Array<{ name: string; tactic?: string }>).map((l) => [l.name, l.tactic]);
    expect(tactics(join(dir, 'b.plan'))).toEqual(tactics(join(dir, 'a.plan')));
    // --timingCacheFile wins over KILN_TIMING_CACHE; --noTimingCache uses none.
    const other = join(dir, 'o.kilntc');
    const f = JSON.parse(kiln(['build', model(3), '-o', join(dir, 'c.plan'), '--json', '--timingCacheFile', other], { KILN_TIMING_CACHE: tc }).stdout);
    expect(f.timing_cache.path).toBe(other);
    const n = JSON.parse(kiln(['build', model(3), '-o', join(dir, 'd.plan'), '--json', '--noTimingCache'], { KILN_TIMING_CACHE: tc }).stdout);
    expect(n.timing_cache.path).toBeNull();
  });

  it('a half-truncated cache: the build succeeds, warns, and keeps the damaged file aside', () => {
    const tc = join(dir, 't.kilntc');
    expect(kiln(['build', model(1), '-o', join(dir, 'a.plan')], { KILN_TIMING_CACHE: tc }).status).toBe(0);
    const bytes = readFileSync(tc);
    const half = bytes.subarray(0, bytes.length >> 1);
    writeFileSync(tc, half);
    const r = kiln(['build', model(1), '-o', join(dir, 'b.plan'), '--json'], { KILN_TIMING_CACHE: tc });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: timing cache .* is damaged/);
    const j = JSON.parse(r.stdout);
    expect(j.timing_cache.set_aside).toMatch(/t\.kilntc\.corrupt-/);
    expect(readFileSync(j.timing_cache.set_aside)).toEqual(half);
    expect(j.timing_cache.hits).toBe(0);
    expect(keysIn(tc).length).toBeGreaterThan(0);
  });

  it('eight processes building eight models into one cache file end with the merge of eight separate caches', async () => {
    const separate: string[] = [];
    for (let i = 0; i < 8; i++) {
      const f = join(dir, `sep${i}.kilntc`);
      const r = kiln(['build', model(i), '-o', join(dir, `sep${i}.plan`)], { KILN_TIMING_CACHE: f });
      expect(r.status, r.stderr).toBe(0);
      separate.push(f);
    }
    const merged = join(dir, 'merged.kilntc');
    expect(kiln(['cache', 'merge', ...separate, '-o', merged]).status).toBe(0);
    const shared = join(dir, 'shared.kilntc');
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => kilnAsync(['build', model(i), '-o', join(dir, `sh${i}.plan`)], { KILN_TIMING_CACHE: shared })));
    for (const r of runs) expect(r.status, r.stderr).toBe(0);
    expect(keysIn(shared)).toEqual(keysIn(merged));
    expect(readdirSync(dir).filter((f) => f.startsWith('.') || f.endsWith('.lock'))).toEqual([]);
  }, 600_000);

  it('cache commands on a real cache: show --json, export/import, bundle/install, build from the installed tier', () => {
    const tc = join(dir, 'r.kilntc');
    expect(kiln(['build', model(2), '-o', join(dir, 'a.plan')], { KILN_TIMING_CACHE: tc }).status).toBe(0);
    const show = JSON.parse(kiln(['cache', 'show', tc, '--json']).stdout);
    expect(show.entries).toBeGreaterThan(0);
    expect(typeof show.device).toBe('object');
    const jsonl = kiln(['cache', 'export', tc]).stdout;
    const back = join(dir, 'back.kilntc');
    const imp = spawnSync(process.execPath, [CLI, 'cache', 'import', '-', '-o', back], { input: jsonl, encoding: 'utf8', env: env({}) });
    expect(imp.status, imp.stderr).toBe(0);
    expect(keysIn(back)).toEqual(keysIn(tc));
    // Ship it: bundle for this device, install on a "fresh machine" (empty user tier), build with no timing.
    const path = kiln(['cache', 'path'], { KILN_TIMING_CACHE: '' });
    expect(path.status, path.stderr).toBe(0);
    expect(path.stdout.trim().startsWith(join(dir, 'xdg', 'kiln', 'timing-cache'))).toBe(true);
    const id = String(show.device.identity);
    const bundle = join(dir, 'b.json');
    const b = kiln(['cache', 'bundle', '--device', id, '--from', tc, '-o', bundle]);
    expect(b.status, b.stderr).toBe(0);
    const fresh = { XDG_CACHE_HOME: join(dir, 'fresh') };
    expect(kiln(['cache', 'install', bundle], fresh).status).toBe(0);
    const r = JSON.parse(kiln(['build', model(2), '-o', join(dir, 'i.plan'), '--json'], fresh).stdout);
    expect(r.timing_cache.misses).toBe(0);
  });
});

if (!native) {
  describe('end to end with the native timing cache', () => {
    it.skip('skipped: this binding has no timing cache (buildPlanWithReport/timingCache* or Builder.buildWithReport missing)', () => undefined);
  });
}
