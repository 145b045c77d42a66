/** The caches present: the user tier, the installed (read-only) tier and KILN_TIMING_CACHE if set. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_EXTENSION, ENV_VAR, cacheRoot, installedDir } from './location';
import { deviceIdOf, inspectCache } from './native';
import { readFileSync } from 'node:fs';

export interface CacheListing {
  path: string;
  tier: 'user' | 'installed' | 'env';
  bytes: number;
  modified: string;
  /** null when the file is damaged (`error` says why). */
  entries: number | null;
  device: string | null;
  error?: string;
}

function describe(path: string, tier: CacheListing['tier']): CacheListing {
  const st = statSync(path);
  const base = { path, tier, bytes: st.size, modified: st.mtime.toISOString() };
  try {
    const info = inspectCache(readFileSync(path));
    return { ...base, entries: info.entries, device: deviceIdOf(info) };
  } catch (e) {
    return { ...base, entries: null, device: null, error: `${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}` };
  }
}

function cachesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith(CACHE_EXTENSION) && !f.startsWith('.')).sort().map((f) => join(dir, f));
}

export function listCaches(env: NodeJS.ProcessEnv = process.env): CacheListing[] {
  const out: CacheListing[] = [];
  const envPath = env[ENV_VAR];
  if (envPath && existsSync(envPath)) out.push(describe(envPath, 'env'));
  for (const p of cachesIn(cacheRoot())) if (p !== envPath) out.push(describe(p, 'user'));
  for (const p of cachesIn(installedDir())) out.push(describe(p, 'installed'));
  return out;
}
