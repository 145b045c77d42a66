/** `30d`, `12h`, `90m`, `45s`, `500ms`, `2w` → milliseconds (for `prune --older-than`). */
import { KilnError } from '@kiln/core';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(text);
  if (!m) throw new KilnError('KILN_E_INVALID_INPUT', `'${text}' is not a duration; use a number and a unit: 500ms, 45s, 90m, 12h, 30d, 2w`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2]]);
}
