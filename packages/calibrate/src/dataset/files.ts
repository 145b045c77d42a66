/**
 * Listing dataset files: a folder (its files, sorted by name) or a glob (`*`, `?`, `[…]` in any segment, `**`
 * for any depth), always in a deterministic order (sorted full paths) so calibration is reproducible.
 */
import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { KilnError } from '@kiln/core';

export function isGlob(p: string): boolean {
  return /[*?[]/.test(p);
}

function segmentRegex(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${seg.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function walk(base: string, segs: string[], out: string[]): void {
  if (segs.length === 0) {
    if (isFile(base)) out.push(base);
    return;
  }
  const [seg, ...rest] = segs;
  if (seg === '**') {
    walk(base, rest, out);
    for (const e of listDir(base)) if (!e.startsWith('.') && isDir(path.join(base, e))) walk(path.join(base, e), segs, out);
    return;
  }
  if (!isGlob(seg)) {
    walk(path.join(base, seg), rest, out);
    return;
  }
  const re = segmentRegex(seg);
  for (const e of listDir(base)) if (!e.startsWith('.') && re.test(e)) walk(path.join(base, e), rest, out);
}

/** The files of a folder (non-recursive, hidden files skipped) or a glob, sorted. */
export function listFiles(source: string): string[] {
  if (!isGlob(source)) {
    if (isDir(source)) {
      return listDir(source).filter((e) => !e.startsWith('.')).map((e) => path.join(source, e)).filter(isFile);
    }
    if (isFile(source)) return [source];
    throw new KilnError('KILN_E_INVALID_INPUT', `calibration data '${source}' is neither a folder, a file nor a glob pattern`);
  }
  const abs = path.isAbsolute(source);
  const segs = source.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  const out: string[] = [];
  walk(abs ? path.sep : '.', segs, out);
  const files = [...new Set(out)].sort();
  if (files.length === 0) throw new KilnError('KILN_E_INVALID_INPUT', `calibration data glob '${source}' matches no files`);
  return files.map((f) => (abs ? f : path.normalize(f)));
}
