/**
 * `kiln cache …`: inspect and maintain the timing cache (packages/timing-cache does the work; the file
 * format is native). Every command that rewrites a shared cache file does it under the file's lock with an
 * atomic replace, like the builder, so it is safe while builds run.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { backendOf } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { formatBytes, ms, out, printJson } from '../report.js';
import { VERSION } from '../version.js';

export const CACHE_USAGE = `usage: kiln cache <command> …
  path [--backend cpu|cuda]                       the timing cache builds use here (KILN_TIMING_CACHE overrides)
  ls [--json]                                     caches present: entries, device, size (user and installed tiers)
  show <file> [--json]                            device, entry count and the tactics of every key
  merge <a> <b>… -o <out>                         one cache holding the entries of all inputs
  prune [file] --older-than <30d> | --max-size <n>  drop entries measured before now-30d / keep the newest n
  clear [file] [--all]                            delete the cache in effect (--all: every user and installed cache)
  export [file] [-o out.jsonl]                    JSON lines on stdout (or -o)
  import [in.jsonl|-] [-o cache]                  merge JSON lines (file or stdin) into the cache in effect (or -o)
  bundle --device <id> -o <file> [--from cache]   a shippable per-device cache with a manifest and sha256
  install <bundle> [--ignoreMismatch]             verify a bundle and install it read-only in the system tier`;

type Values = Record<string, string | boolean | undefined>;

function parse(argv: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string }>): { values: Values; positionals: string[] } {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true }) as never;
  } catch (e) {
    throw new UsageError((e as Error).message, CACHE_USAGE);
  }
}

const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);

function atMostOne(positionals: string[], what: string): string | undefined {
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}' (one ${what} at most)`, CACHE_USAGE);
  return positionals[0];
}

async function tc() {
  return import('@kiln/timing-cache');
}

/** The cache file in effect for `backend`: KILN_TIMING_CACHE, else the default for this device. */
async function cacheInEffect(backend: 'cpu' | 'cuda'): Promise<string> {
  const { resolveCacheLocation, deviceIdentity } = await tc();
  return resolveCacheLocation({ deviceId: () => deviceIdentity(backend) }).path as string;
}

function readText(file: string | undefined): string {
  try {
    return readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new CliError('KILN_E_INVALID_INPUT', `cannot read '${file ?? 'stdin'}': ${(e as Error).message}`);
  }
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  async path(argv) {
    const { values, positionals } = parse(argv, { backend: { type: 'string' } });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`, CACHE_USAGE);
    out(await cacheInEffect(backendOf(str(values, 'backend'), CACHE_USAGE) ?? 'cpu'));
    return 0;
  },

  async ls(argv) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`, CACHE_USAGE);
    const { listCaches, cacheRoot } = await tc();
    const caches = listCaches();
    if (values.json) {
      printJson({ root: cacheRoot(), caches });
      return 0;
    }
    if (caches.length === 0) {
      out(`no timing caches (root ${cacheRoot()})`);
      return 0;
    }
    for (const c of caches) {
      const what = c.entries === null ? `damaged (${c.error ?? 'unreadable'})` : `${c.entries} entries, device ${c.device}`;
      out(`${c.path}  [${c.tier}]  ${what}, ${formatBytes(c.bytes)}, modified ${c.modified}`);
    }
    return 0;
  },

  async show(argv) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
    const file = atMostOne(positionals, 'cache file') ?? (await cacheInEffect('cpu'));
    const { readCacheStrict, deviceIdOf } = await tc();
    const { info } = readCacheStrict(file);
    if (values.json) {
      printJson({ path: file, bytes: statSync(file).size, ...info });
      return 0;
    }
    out(`timing cache ${file}`);
    out(`  device:  ${deviceIdOf(info)}`);
    out(`  version: ${info.version}`);
    out(`  entries: ${info.entries}`);
    for (const k of info.keys ?? []) {
      const t = k.tactics?.[0];
      const best = t ? { id: t.tactic ?? t.id, medianMs: t.medianMs, samples: t.samples } : k.tactic !== undefined ? { id: k.tactic, medianMs: k.medianMs, samples: k.samples } : null;
      const timing = best ? `best ${String(best.id)} median ${typeof best.medianMs === 'number' ? ms(best.medianMs) : '?'} ms (${best.samples} samples)` : 'no tactics';
      out(`  ${k.key}  ${k.signature}  ${timing}${k.tactics && k.tactics.length > 1 ? `, ${k.tactics.length - 1} more` : ''}${k.retime ? '  [retime]' : ''}`);
    }
    return 0;
  },

  async merge(argv) {
    const { values, positionals } = parse(argv, { output: { type: 'string', short: 'o' } });
    const output = str(values, 'output');
    if (!output) throw new UsageError('merge needs -o <out>', CACHE_USAGE);
    if (positionals.length < 1) throw new UsageError('merge needs at least one input cache', CACHE_USAGE);
    const { readCacheStrict, mergeCaches, withFileLock, writeFileAtomic, inspectCache } = await tc();
    let merged: Uint8Array = readCacheStrict(positionals[0]).bytes;
    for (const p of positionals.slice(1)) merged = mergeCaches(merged, readCacheStrict(p).bytes);
    await withFileLock(output, () => writeFileAtomic(output, merged));
    out(`wrote ${output}: ${inspectCache(merged).entries} entries from ${positionals.length} caches`);
    return 0;
  },

  async prune(argv) {
    const { values, positionals } = parse(argv, { 'older-than': { type: 'string' }, 'max-size': { type: 'string' }, backend: { type: 'string' } });
    const olderThan = str(values, 'older-than');
    const maxSize = str(values, 'max-size');
    if (olderThan === undefined && maxSize === undefined) throw new UsageError('prune needs --older-than <duration> and/or --max-size <entries>', CACHE_USAGE);
    let maxEntries: number | null = null;
    if (maxSize !== undefined) {
      maxEntries = Number(maxSize);
      if (maxSize.trim() === '' || !Number.isSafeInteger(maxEntries) || maxEntries < 0) throw new UsageError(`--max-size must be a non-negative integer (entries), got '${maxSize}'`, CACHE_USAGE);
    }
    const { parseDuration, transformCacheFile, pruneCache } = await tc();
    const olderThanMs = olderThan === undefined ? null : parseDuration(olderThan);
    const file = atMostOne(positionals, 'cache file') ?? (await cacheInEffect(backendOf(str(values, 'backend'), CACHE_USAGE) ?? 'cpu'));
    const r = await transformCacheFile(file, (cur) => (cur === null ? null : pruneCache(cur, olderThanMs, maxEntries)));
    if (r.before === null) out(`${file}: no cache to prune`);
    else out(`pruned ${file}: ${r.before.entries} → ${r.after?.entries ?? 0} entries`);
    return 0;
  },

  async clear(argv) {
    const { values, positionals } = parse(argv, { all: { type: 'boolean' }, backend: { type: 'string' } });
    const { listCaches, withFileLock } = await tc();
    const files = values.all
      ? listCaches().map((c) => c.path)
      : [atMostOne(positionals, 'cache file') ?? (await cacheInEffect(backendOf(str(values, 'backend'), CACHE_USAGE) ?? 'cpu'))];
    let removed = 0;
    for (const f of files) {
      await withFileLock(f, () => {
        try {
          statSync(f);
        } catch {
          return;
        }
        rmSync(f, { force: true });
        rmSync(`${f}.manifest.json`, { force: true });
        removed++;
      });
    }
    out(`removed ${removed} timing cache${removed === 1 ? '' : 's'}`);
    return 0;
  },

  async export(argv) {
    const { values, positionals } = parse(argv, { output: { type: 'string', short: 'o' } });
    const file = atMostOne(positionals, 'cache file') ?? (await cacheInEffect('cpu'));
    const { readCacheStrict, exportCache } = await tc();
    const jsonl = exportCache(readCacheStrict(file).bytes);
    const output = str(values, 'output');
    if (output) writeFileSync(output, jsonl);
    else process.stdout.write(jsonl.endsWith('\n') || jsonl === '' ? jsonl : `${jsonl}\n`);
    return 0;
  },

  async import(argv) {
    const { values, positionals } = parse(argv, { output: { type: 'string', short: 'o' } });
    const input = atMostOne(positionals, 'JSON-lines file');
    const { importCache, mergeIntoCacheFile } = await tc();
    const imported = importCache(readText(input));
    const target = str(values, 'output') ?? (await cacheInEffect('cpu'));
    const r = await mergeIntoCacheFile(target, imported);
    if (!r.written) throw new CliError('KILN_E_CACHE_MISMATCH', `'${target}' belongs to another device: not updated (use -o <new file>)`);
    out(`imported into ${target}: ${r.info?.entries ?? 0} entries`);
    return 0;
  },

  async bundle(argv) {
    const { values, positionals } = parse(argv, { device: { type: 'string' }, output: { type: 'string', short: 'o' }, from: { type: 'string' }, backend: { type: 'string' } });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`, CACHE_USAGE);
    const device = str(values, 'device');
    const output = str(values, 'output');
    if (!device || !output) throw new UsageError('bundle needs --device <id> and -o <file>', CACHE_USAGE);
    const asked = backendOf(str(values, 'backend'), CACHE_USAGE);
    const { readCacheStrict, createBundle, defaultCachePath, writeFileAtomic } = await tc();
    const from = str(values, 'from') ?? process.env.KILN_TIMING_CACHE ?? defaultCachePath(device);
    // The backend is the cache's own (a CUDA cache bundles for the cuda backend) unless --backend says otherwise.
    const b = createBundle(readCacheStrict(from).bytes, { device, ...(asked ? { backend: asked } : {}), kilnVersion: VERSION });
    writeFileAtomic(output, `${JSON.stringify(b)}\n`);
    out(`wrote ${output}: ${b.manifest.entries} entries for device ${device}, sha256 ${b.manifest.sha256}`);
    return 0;
  },

  async install(argv) {
    const { values, positionals } = parse(argv, { ignoreMismatch: { type: 'boolean' } });
    const file = atMostOne(positionals, 'bundle');
    if (!file) throw new UsageError('install needs a bundle file', CACHE_USAGE);
    const { installBundle } = await tc();
    const r = installBundle(file, { ignoreMismatch: values.ignoreMismatch === true });
    out(`installed ${r.manifest.entries} entries for device ${r.manifest.device} at ${r.path} (read-only)`);
    return 0;
  },
};

export async function cacheCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined) throw new UsageError('missing cache command', CACHE_USAGE);
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    out(CACHE_USAGE);
    return 0;
  }
  const run = Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (!run) throw new UsageError(`unknown cache command '${sub}'`, CACHE_USAGE);
  if (rest.includes('--help') || rest.includes('-h')) {
    out(CACHE_USAGE);
    return 0;
  }
  return run(rest);
}
