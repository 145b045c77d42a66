/** Seeded structure-unaware mutations for fuzzing file readers: byte flips, truncation, insertion, chunk duplication. */
import { Rng } from './rng.js';

export type MutationKind = 'flip' | 'truncate' | 'insert' | 'duplicate';
export const MUTATION_KINDS: readonly MutationKind[] = ['flip', 'truncate', 'insert', 'duplicate'];

export interface Mutation { kind: MutationKind; detail: string; bytes: Uint8Array }

/** Mutation number `index` of `input` under `seed`: the kind cycles so each gets a quarter of the runs. */
export function mutate(input: Uint8Array, seed: number, index: number): Mutation {
  const rng = new Rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const kind = MUTATION_KINDS[index % MUTATION_KINDS.length];
  const len = input.length;
  switch (kind) {
    case 'flip': {
      const out = input.slice();
      const n = 1 + rng.int(8);
      const at: number[] = [];
      for (let k = 0; k < n; k++) {
        const p = rng.int(len);
        out[p] ^= 1 + rng.int(255); // never XOR with 0, so every flip changes the byte
        at.push(p);
      }
      return { kind, detail: `bytes at ${at.join(',')}`, bytes: out };
    }
    case 'truncate': {
      const keep = rng.int(len);
      return { kind, detail: `to ${keep} of ${len} bytes`, bytes: input.slice(0, keep) };
    }
    case 'insert': {
      const p = rng.int(len + 1);
      const extra = new Uint8Array(1 + rng.int(32));
      for (let k = 0; k < extra.length; k++) extra[k] = rng.int(256);
      return { kind, detail: `${extra.length} random bytes at ${p}`, bytes: concat(input.subarray(0, p), extra, input.subarray(p)) };
    }
    case 'duplicate': {
      const size = 1 + rng.int(Math.min(512, len));
      const from = rng.int(len - size + 1);
      const p = rng.int(len + 1);
      return { kind, detail: `${size} bytes from ${from} inserted at ${p}`, bytes: concat(input.subarray(0, p), input.subarray(from, from + size), input.subarray(p)) };
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
