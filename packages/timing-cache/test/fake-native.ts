/**
 * A stand-in for the native timing-cache functions with the same contract (coded errors, merge keeps both
 * sides' keys with `a` winning conflicts, device check), over a tiny checksummed JSON format. It lets the
 * file-handling tests (locking, atomic replace, set-aside, bundles, the CLI commands) run on any binding;
 * the format itself is tested in Rust.
 */
import { createHash } from 'node:crypto';
import type { TimingCacheNative } from '../src/native';

const MAGIC = 'FAKE-KILNTC-1\n';

interface Tactic { tactic: string; medianMs: number; minMs: number; samples: number; measuredAt: number }
interface Doc { version: 1; device: { backend: string; identity: string; capability: string }; keys: Record<string, { signature: string; tactics: Tactic[] }> }

function err(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export function encode(doc: Doc): Buffer {
  const body = JSON.stringify(doc);
  const sum = createHash('sha256').update(body).digest('hex');
  return Buffer.from(`${MAGIC}${body}\n${sum}`, 'utf8');
}

export function decode(bytes: Uint8Array): Doc {
  const text = Buffer.from(bytes).toString('utf8');
  if (!text.startsWith(MAGIC)) throw err('KILN_E_CORRUPT_CACHE', 'not a timing cache (bad magic)');
  const nl = text.lastIndexOf('\n');
  const body = text.slice(MAGIC.length, nl);
  const sum = text.slice(nl + 1);
  if (nl < MAGIC.length || createHash('sha256').update(body).digest('hex') !== sum) throw err('KILN_E_CORRUPT_CACHE', 'checksum mismatch (truncated or damaged)');
  return JSON.parse(body) as Doc;
}

export const FAKE_DEVICE = 'fake-cpu:x86_64-avx2';

export function makeCache(keys: string[], opts: { device?: string; measuredAt?: number } = {}): Buffer {
  const doc: Doc = { version: 1, device: { backend: 'cpu', identity: opts.device ?? FAKE_DEVICE, capability: 'x86_64-avx2' }, keys: {} };
  for (const k of keys) {
    doc.keys[k] = { signature: `Conv(${k})`, tactics: [{ tactic: 'im2col-gemm', medianMs: 1.5, minMs: 1.2, samples: 7, measuredAt: opts.measuredAt ?? Date.now() }] };
  }
  return encode(doc);
}

export function keysOf(bytes: Uint8Array): string[] {
  return Object.keys(decode(bytes).keys).sort();
}

export const fakeNative: TimingCacheNative = {
  timingCacheInfo(bytes) {
    const d = decode(bytes);
    return JSON.stringify({
      entries: Object.keys(d.keys).length,
      device: d.device,
      version: d.version,
      keys: Object.entries(d.keys).map(([key, v]) => ({ key, signature: v.signature, tactic: v.tactics[0].tactic, medianMs: v.tactics[0].medianMs, samples: v.tactics[0].samples, measuredAt: v.tactics[0].measuredAt, retime: false })),
    });
  },
  timingCacheMerge(a, b) {
    const da = decode(a);
    const db = decode(b);
    if (da.device.identity !== db.device.identity) throw err('KILN_E_CACHE_MISMATCH', `device ${db.device.identity} is not ${da.device.identity}`);
    return encode({ ...da, keys: { ...db.keys, ...da.keys } });
  },
  timingCacheExport(bytes) {
    const d = decode(bytes);
    const lines = [JSON.stringify({ header: true, device: d.device, version: d.version })];
    for (const [key, v] of Object.entries(d.keys)) lines.push(JSON.stringify({ key, ...v }));
    return `${lines.join('\n')}\n`;
  },
  timingCacheImport(jsonl) {
    const lines = jsonl.split('\n').filter((l) => l.trim() !== '');
    let doc: Doc | null = null;
    for (const l of lines) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw err('KILN_E_CORRUPT_CACHE', `bad JSON line: ${l.slice(0, 40)}`);
      }
      if (o.header) doc = { version: 1, device: o.device as Doc['device'], keys: {} };
      else if (doc) doc.keys[o.key as string] = { signature: o.signature as string, tactics: o.tactics as Tactic[] };
      else throw err('KILN_E_CORRUPT_CACHE', 'JSON lines must start with the header line');
    }
    if (!doc) throw err('KILN_E_CORRUPT_CACHE', 'no header line');
    return encode(doc);
  },
  timingCachePrune(bytes, olderThanMs, maxEntries) {
    const d = decode(bytes);
    let entries = Object.entries(d.keys).map(([k, v]) => [k, v, Math.max(...v.tactics.map((t) => t.measuredAt))] as const);
    if (olderThanMs !== null) entries = entries.filter((e) => e[2] >= Date.now() - olderThanMs);
    if (maxEntries !== null) entries = [...entries].sort((x, y) => y[2] - x[2]).slice(0, maxEntries);
    return encode({ ...d, keys: Object.fromEntries(entries.map((e) => [e[0], e[1]])) });
  },
  deviceIdentity(backend) {
    if (backend !== 'cpu') throw err('KILN_E_BACKEND_UNAVAILABLE', `backend ${backend} is not available`);
    return FAKE_DEVICE;
  },
};
