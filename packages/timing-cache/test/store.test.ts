/**
 * File handling of the timing cache against the fake native format (test/fake-native.ts): locations,
 * atomic locked merges under contention from 8 processes, damaged-file set-aside, prune, bundles.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  cacheRoot, createBundle, defaultCachePath, installBundle, installedCachePath, listCaches, mergeIntoCacheFile, openBundle,
  parseDuration, pruneCache, readCacheForBuild, resolveCacheLocation, sanitizeDeviceId, setTimingCacheNative, transformCacheFile,
  withFileLock, writeFileAtomic,
} from '../src/index';
import { FAKE_DEVICE, fakeNative, keysOf, makeCache } from './fake-native';

const here = dirname(fileURLToPath(import.meta.url));
let dir: string;
const savedXdg = process.env.XDG_CACHE_HOME;

beforeAll(() => setTimingCacheNative(fakeNative));
afterAll(() => {
  setTimingCacheNative(null);
  if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedXdg;
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-tc-'));
  process.env.XDG_CACHE_HOME = join(dir, 'xdg');
});

describe('locations', () => {
  it('defaults to <user cache>/kiln/timing-cache/<device>.kilntc', () => {
    expect(cacheRoot()).toBe(join(dir, 'xdg', 'kiln', 'timing-cache'));
    const loc = resolveCacheLocation({ deviceId: 'cpu:x86_64 avx2', env: {} });
    expect(loc).toEqual({ path: defaultCachePath('cpu:x86_64 avx2'), source: 'default' });
    expect(loc.path!.startsWith(cacheRoot())).toBe(true);
    expect(installedCachePath('d')).toBe(join(cacheRoot(), 'installed', 'd.kilntc'));
  });
  it('KILN_TIMING_CACHE overrides the default, --timingCacheFile both, --noTimingCache turns it off', () => {
    const deviceId = () => {
      throw new Error('device not needed');
    };
    expect(resolveCacheLocation({ deviceId, env: { KILN_TIMING_CACHE: '/x/a.kilntc' } })).toEqual({ path: '/x/a.kilntc', source: 'env' });
    expect(resolveCacheLocation({ deviceId, file: '/y/b.kilntc', env: { KILN_TIMING_CACHE: '/x/a.kilntc' } })).toEqual({ path: '/y/b.kilntc', source: 'flag' });
    expect(resolveCacheLocation({ deviceId, disabled: true, file: '/y' })).toEqual({ path: null, source: 'disabled' });
  });
  it('sanitizes device ids into distinct file names', () => {
    expect(sanitizeDeviceId('cpu-x86_64')).toBe('cpu-x86_64');
    const a = sanitizeDeviceId('NVIDIA H100/sm_90 driver 550');
    const b = sanitizeDeviceId('NVIDIA H100/sm_90 driver 551');
    expect(a).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(a).not.toBe(b);
    expect(sanitizeDeviceId('../../etc')).not.toContain('/');
  });
});

describe('updates', () => {
  it('merges into the file, keeping entries other builders wrote', async () => {
    const f = join(dir, 'c.kilntc');
    await mergeIntoCacheFile(f, makeCache(['a', 'b']));
    await mergeIntoCacheFile(f, makeCache(['c']));
    expect(keysOf(readFileSync(f))).toEqual(['a', 'b', 'c']);
    // No temp files or lock left behind.
    expect(readdirSync(dir)).toEqual(['c.kilntc']);
  });

  it('leaves a cache of another device untouched, with a warning', async () => {
    const f = join(dir, 'c.kilntc');
    writeFileSync(f, makeCache(['a'], { device: 'other-gpu' }));
    const warnings: string[] = [];
    const r = await mergeIntoCacheFile(f, makeCache(['b']), { warn: (m) => warnings.push(m) });
    expect(r.written).toBe(false);
    expect(keysOf(readFileSync(f))).toEqual(['a']);
    expect(warnings.join()).toMatch(/another device/);
  });

  it('eight processes merging into one file at once lose no entry', async () => {
    const f = join(dir, 'shared.kilntc');
    const tsx = join(here, '..', 'node_modules', '.bin', 'tsx');
    const runs = Array.from({ length: 8 }, (_, id) =>
      new Promise<number>((resolve, reject) => {
        const p = spawn(tsx, [join(here, 'child-merge.ts'), f, String(id), '20'], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d) => (err += String(d)));
        p.on('error', reject);
        p.on('exit', (code) => (code === 0 ? resolve(0) : reject(new Error(`child ${id} exited ${code}: ${err}`))));
      }),
    );
    await Promise.all(runs);
    const expected: string[] = [];
    for (let id = 0; id < 8; id++) for (let r = 0; r < 5; r++) for (let k = 0; k < 20; k++) expected.push(`p${id}-r${r}-k${k}`);
    expect(keysOf(readFileSync(f))).toEqual(expected.sort());
    expect(readdirSync(dir)).toEqual(['shared.kilntc']);
  });

  it('writes atomically: a concurrent reader only ever sees complete files', async () => {
    const f = join(dir, 'atomic.kilntc');
    writeFileAtomic(f, makeCache(['x']));
    let reads = 0;
    const writer = (async () => {
      for (let i = 0; i < 50; i++) {
        writeFileAtomic(f, makeCache(Array.from({ length: 200 + i }, (_, k) => `k${k}`)));
        await new Promise((r) => setImmediate(r));
      }
    })();
    const reader = (async () => {
      for (let i = 0; i < 200; i++) {
        keysOf(readFileSync(f)); // throws on a half-written file
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    await Promise.all([writer, reader]);
    expect(reads).toBe(200);
  });

  it('takes over a stale lock left by a dead process', async () => {
    const f = join(dir, 'stale.kilntc');
    const { mkdirSync, utimesSync } = await import('node:fs');
    mkdirSync(`${f}.lock`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${f}.lock`, old, old);
    await withFileLock(f, () => writeFileAtomic(f, makeCache(['a'])), { staleMs: 5_000, timeoutMs: 10_000 });
    expect(keysOf(readFileSync(f))).toEqual(['a']);
  });
});

describe('damaged files', () => {
  it('a half-truncated cache is moved aside with a warning and read as empty', async () => {
    const f = join(dir, 'c.kilntc');
    const full = makeCache(['a', 'b', 'c']);
    writeFileSync(f, full.subarray(0, full.length >> 1));
    const warnings: string[] = [];
    const r = await readCacheForBuild(f, { warn: (m) => warnings.push(m) });
    expect(r.bytes).toBeNull();
    expect(r.setAside).toMatch(/c\.kilntc\.corrupt-\d{4}-\d\d-\d\dT/);
    expect(existsSync(f)).toBe(false);
    expect(readFileSync(r.setAside!)).toEqual(full.subarray(0, full.length >> 1));
    expect(warnings.join()).toMatch(/damaged.*moved it to/);
    // The next update starts a fresh file.
    await mergeIntoCacheFile(f, makeCache(['d']));
    expect(keysOf(readFileSync(f))).toEqual(['d']);
  });

  it('an update over a damaged file sets it aside too', async () => {
    const f = join(dir, 'c.kilntc');
    writeFileSync(f, 'garbage');
    const r = await mergeIntoCacheFile(f, makeCache(['a']), { warn: () => undefined });
    expect(r.setAside).not.toBeNull();
    expect(keysOf(readFileSync(f))).toEqual(['a']);
  });
});

describe('prune, list, bundles', () => {
  it('parses durations', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(() => parseDuration('30 days')).toThrow(/not a duration/);
  });

  it('prunes under the lock', async () => {
    const f = join(dir, 'c.kilntc');
    writeFileSync(f, makeCache(['old'], { measuredAt: Date.now() - 40 * 86_400_000 }));
    await mergeIntoCacheFile(f, makeCache(['new']));
    const r = await transformCacheFile(f, (cur) => pruneCache(cur!, parseDuration('30d'), null));
    expect(r.before!.entries).toBe(2);
    expect(keysOf(readFileSync(f))).toEqual(['new']);
  });

  it('lists user and installed caches, flagging damaged ones', async () => {
    await mergeIntoCacheFile(defaultCachePath(FAKE_DEVICE), makeCache(['a']));
    writeFileSync(join(cacheRoot(), 'broken.kilntc'), 'xx');
    const l = listCaches({});
    expect(l.map((c) => [c.tier, c.entries])).toEqual([['user', null], ['user', 1]]);
    expect(l[1].device).toBe(FAKE_DEVICE);
  });

  it('bundles verify their checksum and device and install read-only', () => {
    const b = createBundle(makeCache(['a', 'b']), { device: FAKE_DEVICE, kilnVersion: '0.1.0' });
    expect(b.manifest).toMatchObject({ device: FAKE_DEVICE, entries: 2, backend: 'cpu', kilnVersion: '0.1.0' });
    const file = join(dir, 'b.json');
    writeFileSync(file, JSON.stringify(b));
    const r = installBundle(file);
    expect(r.path).toBe(installedCachePath(FAKE_DEVICE));
    expect(keysOf(readFileSync(r.path))).toEqual(['a', 'b']);
    expect(statSync(r.path).mode & 0o222).toBe(0);
    // Reinstalling replaces the read-only file.
    installBundle(file);

    const tampered = { ...b, cache: Buffer.from(makeCache(['evil'])).toString('base64') };
    expect(() => openBundle(JSON.stringify(tampered))).toThrow(/sha256/);
    expect(() => openBundle('{')).toThrow(/not a timing-cache bundle/);
    expect(() => createBundle(makeCache(['a']), { device: 'other', kilnVersion: '0' })).toThrow(/measured on device/);

    const foreign = createBundle(makeCache(['a'], { device: 'other' }), { device: 'other', kilnVersion: '0' });
    const ff = join(dir, 'f.json');
    writeFileSync(ff, JSON.stringify(foreign));
    expect(() => installBundle(ff)).toThrow(/is for device 'other'/);
    chmodSync(ff, 0o644);
  });
});
