/**
 * `pnpm --filter @kiln/conformance conformance [--jobs N] [--timeout MS] [--filter REGEX] [--out DIR] [--fetch-only]`
 * Runs the ONNX node tests and writes docs/conformance.{json,md} (only for a full, unfiltered run
 * unless --out is given, so a filtered debugging run never overwrites the committed report).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureCorpus, repoRoot } from './corpus.js';
import { runNodeSuite } from './node-runner.js';
import { writeReports } from './report.js';

async function main(): Promise<number> {
  // `pnpm <script> -- --flag` forwards a literal `--`; drop it so the flags still parse.
  const argv = process.argv.slice(2);
  if (argv[0] === '--') argv.shift();
  const { values } = parseArgs({
    args: argv,
    options: {
      jobs: { type: 'string' },
      timeout: { type: 'string' },
      filter: { type: 'string' },
      out: { type: 'string' },
      'fetch-only': { type: 'boolean', default: false },
      verbose: { type: 'boolean', short: 'v', default: false },
    },
  });
  const corpus = await ensureCorpus();
  if (values['fetch-only']) {
    console.log(corpus);
    return 0;
  }
  const { supportedOps } = await import('@kiln/onnx');
  const started = Date.now();
  const results = await runNodeSuite({
    corpus,
    jobs: values.jobs ? Number(values.jobs) : undefined,
    timeoutMs: values.timeout ? Number(values.timeout) : undefined,
    filter: values.filter ? new RegExp(values.filter) : undefined,
    onResult: (r, done, total) => {
      if (values.verbose || r.status === 'fail') process.stderr.write(`[${done}/${total}] ${r.status.padEnd(11)} ${r.name}${r.message ? `: ${r.message}` : ''}\n`);
    },
  });
  const seconds = (Date.now() - started) / 1000;
  const outDir = values.out ?? (values.filter ? null : join(repoRoot(), 'docs'));
  const { summarize } = await import('./report.js');
  const s = outDir ? writeReports(outDir, results, supportedOps, { corpus, seconds }) : summarize(results, supportedOps);
  console.log(`node tests: ${s.pass} pass, ${s.fail} fail, ${s.unsupported} unsupported of ${s.total}; ` +
    `claimed ${s.claimed}, ${s.claimedPass} pass (${(100 * s.claimedPassRate).toFixed(1)}%); ${seconds.toFixed(0)} s` +
    (outDir ? `; reports in ${outDir}` : ''));
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
