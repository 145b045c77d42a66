#!/usr/bin/env node
/**
 * Bundles what a GPU run needs into single ESM files with no node_modules at run time:
 *   packages/conformance/dist/gpu-suite.mjs   the GPU test suite (packages/conformance/src/gpu-suite.ts)
 *   dist-gpu/kiln.mjs                          the kiln CLI (packages/cli/src/kiln.ts)
 * Workspace packages are bundled from their TypeScript sources (the `source` export condition), so the
 * bundles follow the working tree, not whatever `dist/` was last built. `@kiln/binding` is replaced by
 * scripts/gpu/binding-shim.cjs (addon from $KILN_BINDING or packages/binding). esbuild comes from the
 * conformance package's tsx dependency (no extra install).
 * Usage: node scripts/gpu/bundle.mjs [suite|cli]…   (default both)
 */
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fromConformance = createRequire(join(root, 'packages', 'conformance', 'package.json'));
const fromTsx = createRequire(fromConformance.resolve('tsx'));
const esbuild = fromTsx('esbuild');

const shim = join(root, 'scripts', 'gpu', 'binding-shim.cjs');
const bindingShim = {
  name: 'kiln-binding-shim',
  setup(build) {
    build.onResolve({ filter: /^@kiln\/binding$/ }, () => ({ path: shim }));
  },
};

// ESM output that still has CommonJS inside (onnx-proto, the shim): give it a real `require`, and tell the
// shim where the bundle lies.
const banner = [
  "import { createRequire as __kilnCreateRequire } from 'node:module';",
  'const require = __kilnCreateRequire(import.meta.url);',
  'const __kilnBundleUrl = import.meta.url;',
].join('\n');

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['source'],
  mainFields: ['module', 'main'],
  banner: { js: banner },
  plugins: [bindingShim],
  logLevel: 'warning',
  legalComments: 'none',
};

const targets = {
  suite: {
    entryPoints: [join(root, 'packages', 'conformance', 'src', 'gpu-suite.ts')],
    outfile: join(root, 'packages', 'conformance', 'dist', 'gpu-suite.mjs'),
  },
  cli: {
    entryPoints: [join(root, 'packages', 'cli', 'src', 'kiln.ts')],
    outfile: join(root, 'dist-gpu', 'kiln.mjs'),
    define: { __KILN_CLI_VERSION__: JSON.stringify(JSON.parse(readFileSync(join(root, 'packages', 'cli', 'package.json'), 'utf8')).version) },
  },
};

const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(targets)) {
  const t = targets[name];
  if (!t) throw new Error(`unknown bundle '${name}' (suite, cli)`);
  mkdirSync(dirname(t.outfile), { recursive: true });
  await esbuild.build({ ...common, ...t, absWorkingDir: root });
  console.log(`bundled ${name}: ${t.outfile} (${(statSync(t.outfile).size / 1e6).toFixed(2)} MB)`);
}
