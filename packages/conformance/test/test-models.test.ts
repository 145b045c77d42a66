/**
 * Every bundled model in test-models/ (made by scripts/gen-test-models.py, expected outputs computed by
 * onnxruntime) matches within rtol 1e-4, atol 1e-5.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareTensors } from '../src/compare.js';
import { repoRoot } from '../src/corpus.js';
import { parseBuildRun, readPbSeries } from '../src/kiln.js';
import type { Feeds } from '../src/kiln.js';

const dir = join(repoRoot(), 'test-models');
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { models: Array<{ name: string; file: string }> };
const TOL = { rtol: 1e-4, atol: 1e-5 };

describe('test-models vs onnxruntime', () => {
  it('has the generated models', () => {
    expect(manifest.models.length).toBeGreaterThanOrEqual(7);
  });

  it.each(manifest.models.map((m) => [m.name, m] as const))('%s', (_name, entry) => {
    const inputs = readPbSeries(join(dir, entry.name), 'input');
    const expected = readPbSeries(join(dir, entry.name), 'output');
    const feeds: Feeds = {};
    for (const { name, tensor } of inputs) feeds[name] = tensor;
    // Dynamic dims get a real range around the stored shape (1 .. 2x), so the profile path is exercised.
    const { model, outputs } = parseBuildRun(join(dir, entry.file), feeds, {
      range: (_n, dims, declared) => ({
        min: dims.map((d, i) => (declared[i] < 0 ? 1 : d)),
        opt: dims,
        max: dims.map((d, i) => (declared[i] < 0 ? d * 2 : d)),
      }),
    });
    expect(model.inputs.map((i) => i.name).sort()).toEqual(Object.keys(feeds).sort());
    expect(expected.length).toBe(model.outputs.length);
    for (const { name, tensor } of expected) {
      expect(outputs[name], `output ${name}`).toBeDefined();
      expect(compareTensors(name, outputs[name], tensor, TOL)).toBeNull();
    }
  });
});
