/**
 * Locates the ONNX backend-test corpus (`node/`, `light/`, …), downloading it when absent.
 *
 * Lookup order:
 *   1. `$KILN_ONNX_CORPUS` (a folder holding `node/` and `light/`),
 *   2. `../shared/onnx-backend-tests` relative to the repo root (where CI puts it),
 *   3. `<repo>/.cache/onnx-backend-tests/` (git-ignored), filled on first use from the
 *      `onnx==1.22.0` wheel on PyPI, which ships the corpus under `onnx/backend/test/data/`.
 *      v1.22.0 is the last onnx release that carries these files, hence the pin.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readZipEntries } from './zip.js';

const ONNX_VERSION = '1.22.0';
const DATA_PREFIX = 'onnx/backend/test/data/';
const COMPLETE_MARKER = '.complete';

/** Repo root: the nearest ancestor of this file holding `pnpm-workspace.yaml` (or `Cargo.toml` + `packages/`). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml')) || (existsSync(join(dir, 'Cargo.toml')) && existsSync(join(dir, 'packages')))) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`could not find the Kiln repo root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function isCorpus(dir: string): boolean {
  return existsSync(join(dir, 'node')) && existsSync(join(dir, 'light'));
}

/** Returns the corpus folder, downloading and caching it when no local copy exists. */
export async function ensureCorpus(log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<string> {
  const fromEnv = process.env.KILN_ONNX_CORPUS;
  if (fromEnv) {
    if (!isCorpus(fromEnv)) throw new Error(`KILN_ONNX_CORPUS=${fromEnv} does not contain node/ and light/`);
    return resolve(fromEnv);
  }
  const root = repoRoot();
  const shared = resolve(root, '..', 'shared', 'onnx-backend-tests');
  if (isCorpus(shared)) return shared;
  const cache = join(root, '.cache', 'onnx-backend-tests');
  if (isCorpus(cache) && existsSync(join(cache, COMPLETE_MARKER))) return cache;
  await downloadCorpus(cache, log);
  return cache;
}

interface PypiFile { filename: string; url: string; packagetype: string; size: number; digests: { sha256: string } }

export async function downloadCorpus(dest: string, log: (msg: string) => void): Promise<void> {
  // The project-level JSON (`/pypi/onnx/json`, `releases[version]`) rather than the per-version URL:
  // some registry mirrors serve only the former.
  const metaUrl = 'https://pypi.org/pypi/onnx/json';
  const meta = (await (await fetchOk(metaUrl)).json()) as { releases: Record<string, PypiFile[]> };
  const files = (meta.releases[ONNX_VERSION] ?? []).filter((f) => f.packagetype === 'bdist_wheel');
  if (files.length === 0) throw new Error(`PyPI lists no wheel for onnx==${ONNX_VERSION}`);
  // The data files are identical in every platform wheel; take the smallest download.
  files.sort((a, b) => a.size - b.size);
  const wheel = files[0];
  log(`conformance: ONNX corpus not found locally; downloading ${wheel.filename} (${(wheel.size / 1e6).toFixed(1)} MB) from PyPI`);
  // Mirrors may list file URLs relative to the JSON document.
  const bytes = new Uint8Array(await (await fetchOk(new URL(wheel.url, metaUrl).href)).arrayBuffer());
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== wheel.digests.sha256) throw new Error(`${wheel.filename}: sha256 ${sha} does not match PyPI's ${wheel.digests.sha256}`);

  // Extract into a sibling temp folder, then rename, so an interrupted run never leaves a half corpus.
  const tmp = `${dest}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  let count = 0;
  const kinds = new Set<string>();
  for (const entry of readZipEntries(bytes)) {
    if (!entry.name.startsWith(DATA_PREFIX) || entry.name.endsWith('/')) continue;
    const rel = entry.name.slice(DATA_PREFIX.length);
    const out = resolve(tmp, rel);
    if (!out.startsWith(tmp + sep)) throw new Error(`${wheel.filename}: entry ${entry.name} escapes the extraction folder`);
    kinds.add(rel.split('/')[0]);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, entry.data());
    count++;
  }
  if (!kinds.has('node') || !kinds.has('light')) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`${wheel.filename} does not carry ${DATA_PREFIX}{node,light} (found: ${[...kinds].join(', ') || 'nothing'})`);
  }
  writeFileSync(join(tmp, COMPLETE_MARKER), `onnx==${ONNX_VERSION} ${wheel.filename} sha256=${sha}\n`);
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dirname(dest), { recursive: true });
  renameSync(tmp, dest);
  log(`conformance: extracted ${count} files into ${dest}`);
}

async function fetchOk(url: string): Promise<Response> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const res = await fetch(url);
      if (res.ok) return res;
      lastError = new Error(`GET ${url}: HTTP ${res.status}`);
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 1000 * (attempt + 1)));
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** Reads a whole file as a Uint8Array (a plain view, not a Node Buffer subclass quirk). */
export function readBytes(path: string): Uint8Array {
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
