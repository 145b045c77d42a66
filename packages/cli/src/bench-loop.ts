/**
 * The timing loop shared by `bench` and `trtexec`, with trtexec's semantics: warm up for
 * `warmUpMs`, then run until at least `iterations` runs AND at least `durationS` seconds have
 * passed. Each run awaits the async `context.run` (work off the JS thread), as users call it.
 */
import type { ExecutionContext, Tensor } from '@kiln/core';

export interface BenchOptions {
  iterations: number;
  durationS: number;
  warmUpMs: number;
}

export interface BenchResult {
  latenciesMs: number[];
  startsMs: number[]; // start of each timed run, relative to the start of the timed loop
  totalWallMs: number;
}

export async function benchmark(ctx: ExecutionContext, feeds: Record<string, Tensor>, o: BenchOptions): Promise<BenchResult> {
  const warmEnd = performance.now() + o.warmUpMs;
  // At least one untimed run, so that first-run allocation is never in the numbers.
  do {
    await ctx.run(feeds);
  } while (performance.now() < warmEnd);
  const latenciesMs: number[] = [];
  const startsMs: number[] = [];
  const t0 = performance.now();
  const minEnd = t0 + o.durationS * 1000;
  for (;;) {
    const s = performance.now();
    await ctx.run(feeds);
    const e = performance.now();
    latenciesMs.push(e - s);
    startsMs.push(s - t0);
    if (latenciesMs.length >= o.iterations && e >= minEnd) break;
  }
  return { latenciesMs, startsMs, totalWallMs: performance.now() - t0 };
}
