/**
 * The one place the suites drive Kiln: ONNX model → plan → engine → outputs, through the public
 * `@kiln/onnx` and `@kiln/core` APIs only (the same path a user takes).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Builder, Engine, Tensor } from '@kiln/core';
import type { BuilderConfig, ShapeRange } from '@kiln/core';
import { parseOnnxSync, readTensorProto } from '@kiln/onnx';
import type { OnnxModel } from '@kiln/onnx';
import { readBytes } from './corpus.js';

export type Feeds = Record<string, Tensor>;

/** `code` of a coded Kiln error, or null for anything else (an uncoded exception is a bug in Kiln). */
export function kilnCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('KILN_E_') ? code : null;
}

/** First line of an error, prefixed with its code when it has one. */
export function errorLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const first = msg.split('\n')[0].trim();
  const code = kilnCode(e);
  return code && !first.startsWith(code) ? `${code}: ${first}` : first;
}

/**
 * Optimization profiles for a model's dynamic inputs: min = opt = max = the shape of the feed
 * (fixed-shape build), unless `range` widens it. Static inputs need no profile.
 */
export function profilesFor(model: OnnxModel, feeds: Feeds, range?: ShapeRangeFn): Array<Record<string, ShapeRange>> {
  const profile: Record<string, ShapeRange> = {};
  for (const input of model.inputs) {
    if (!input.dims.some((d) => d < 0)) continue;
    const feed = feeds[input.name];
    if (!feed) continue;
    const dims = [...feed.dims];
    profile[input.name] = range ? range(input.name, dims, [...input.dims]) : { min: dims, opt: dims, max: dims };
  }
  return Object.keys(profile).length > 0 ? [profile] : [];
}

/** Reads `<dir>/<prefix>_<k>.pb` in k order. */
export function readPbSeries(dir: string, prefix: 'input' | 'output'): Array<{ name: string; tensor: Tensor }> {
  const re = new RegExp(`^${prefix}_(\\d+)\\.pb$`);
  return readdirSync(dir)
    .map((f) => [f, re.exec(f)] as const)
    .filter((x): x is readonly [string, RegExpExecArray] => x[1] !== null)
    .sort((a, b) => Number(a[1][1]) - Number(b[1][1]))
    .map(([f]) => readTensorProto(readBytes(join(dir, f))));
}

/** Profile for one dynamic input, given the feed's dims and the declared dims (-1 = dynamic). */
export type ShapeRangeFn = (name: string, feedDims: number[], declaredDims: number[]) => ShapeRange;

export type BackendName = 'cpu' | 'cuda';

/**
 * Builder fields beyond backend/profiles (the CUDA contract's `fp16`, `tf32`, `builderOptimizationLevel`, …),
 * passed through to `Builder.buildSync` as they are.
 */
export type ExtraBuilderConfig = Record<string, unknown>;

export interface BuildRunOptions {
  numThreads?: number;
  range?: ShapeRangeFn;
  /** Default 'cpu'. */
  backend?: BackendName;
  builder?: ExtraBuilderConfig;
}

/** Parses (from a path, so external data resolves), builds for the chosen backend (default CPU), runs once. */
export function parseBuildRun(modelPath: string, feeds: Feeds, opts: BuildRunOptions = {}): { model: OnnxModel; outputs: Record<string, Tensor>; plan: Uint8Array } {
  const model = parseOnnxSync(modelPath);
  const config = { ...opts.builder, backend: opts.backend ?? 'cpu', profiles: profilesFor(model, feeds, opts.range) } as BuilderConfig;
  const plan = Builder.buildSync(model.network, config);
  const engine = Engine.loadSync(plan);
  const ctx = engine.createContext({ numThreads: opts.numThreads ?? 0 });
  return { model, outputs: ctx.runSync(feeds), plan };
}
