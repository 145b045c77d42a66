/**
 * ONNX backend node tests (all 1,765 of the v1.22.0 corpus) against their shipped expected outputs.
 * Writes docs/conformance.{json,md}; asserts >= 700 pass and >= 95% of the tests whose ops Kiln claims pass.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { supportedOps } from '@kiln/onnx';
import { ensureCorpus, repoRoot } from '../src/corpus.js';
import { runNodeSuite } from '../src/node-runner.js';
import { writeReports } from '../src/report.js';

let corpus = '';
beforeAll(async () => { corpus = await ensureCorpus(); });

describe('ONNX node tests (CPU backend)', () => {
  it('passes >= 700 tests and >= 95% of the claimed tests (ops in supportedOps, dtypes Kiln has)', async () => {
    const started = Date.now();
    const results = await runNodeSuite({ corpus });
    const s = writeReports(join(repoRoot(), 'docs'), results, supportedOps, { corpus, seconds: (Date.now() - started) / 1000 });
    // Numbers for the log: the assertion messages below carry them too.
    console.log(`node tests: ${s.pass} pass / ${s.fail} fail / ${s.unsupported} unsupported of ${s.total}; ` +
      `claimed ${s.claimed}, passing ${s.claimedPass} (${(100 * s.claimedPassRate).toFixed(1)}%); ` +
      `by ops alone ${s.opsClaimedPass}/${s.opsClaimed}`);
    expect(s.total, 'corpus size').toBe(1765);
    expect(s.pass, `passing node tests (see docs/conformance.md)`).toBeGreaterThanOrEqual(700);
    expect(s.claimedPassRate, `pass rate of claimed tests: ${s.claimedPass}/${s.claimed}`).toBeGreaterThanOrEqual(0.95);
  }, 540_000);
});
