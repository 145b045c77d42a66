#!/usr/bin/env node
// Packaging test: pack the published packages exactly as `pnpm publish` would (workspace:* rewritten to versions,
// publishConfig applied), install the tarballs with npm into an empty project outside the workspace (no links),
// then run the installed `kiln` CLI there: `kiln build <bundled model> -o x.plan` and `kiln run x.plan`.
//
// Needs the addon and the TS packages built (`pnpm build`). Prints a closing "N passed, N failed" line.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const binding = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(binding, '../..');
const packages = {
  '@kiln/binding-linux-x64-gnu': join(binding, 'npm/linux-x64-gnu'),
  '@kiln/binding': binding,
  '@kiln/core': join(repo, 'packages/core'),
  '@kiln/onnx': join(repo, 'packages/onnx'),
  '@kiln/calibrate': join(repo, 'packages/calibrate'),
  '@kiln/timing-cache': join(repo, 'packages/timing-cache'),
  '@kiln/cli': join(repo, 'packages/cli'),
};
const model = join(repo, 'test-models/small_cnn.onnx');
let passed = 0;
let failed = 0;

function summary(code) {
  console.log(`packaging: ${passed} passed, ${failed} failed`);
  process.exit(code);
}

if (!existsSync(join(packages['@kiln/cli'], 'package.json'))) {
  console.log('packaging test SKIPPED: packages/cli is absent, so there is no `kiln` to install and run');
  process.exit(0);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log(`packaging test SKIPPED: only the linux-x64-gnu platform package exists (this is ${process.platform}-${process.arch})`);
  process.exit(0);
}

const missing = [];
if (!existsSync(join(binding, 'kiln.linux-x64-gnu.node'))) missing.push('packages/binding/kiln.linux-x64-gnu.node');
for (const name of ['@kiln/core', '@kiln/onnx', '@kiln/calibrate', '@kiln/timing-cache', '@kiln/cli']) {
  if (!existsSync(join(packages[name], 'dist'))) missing.push(`${name} dist/`);
}
if (!existsSync(model)) missing.push('test-models/small_cnn.onnx');
if (missing.length > 0) {
  console.error(`packaging test cannot run, missing: ${missing.join(', ')} (run \`pnpm build\` first)`);
  failed++;
  summary(1);
}

/** pnpm as the caller ran it (`pnpm run …` sets npm_execpath), else the pinned version through npx. */
function pnpm(args, cwd) {
  const execPath = process.env.npm_execpath;
  if (execPath && /pnpm/.test(execPath)) {
    return execFileSync(process.execPath, [execPath, ...args], { cwd, encoding: 'utf8' });
  }
  return execFileSync('npx', ['-y', 'pnpm@10.20.0', ...args], { cwd, encoding: 'utf8' });
}

function step(name, fn) {
  try {
    fn();
    console.log(`  ✓ ${name}`);
    passed++;
  } catch (e) {
    console.log(`  ✗ ${name}`);
    console.log(String(e.stdout ?? ''), String(e.stderr ?? ''), e.message);
    failed++;
    summary(1);
  }
}

const work = mkdtempSync(join(tmpdir(), 'kiln-packaging-'));
const tarballs = join(work, 'tarballs');
const project = join(work, 'project');
mkdirSync(tarballs);
mkdirSync(project);
const files = {};

step('copy the addon into its platform package', () => {
  copyFileSync(join(binding, 'kiln.linux-x64-gnu.node'), join(packages['@kiln/binding-linux-x64-gnu'], 'kiln.linux-x64-gnu.node'));
});

step('pnpm pack every published package', () => {
  for (const [name, dir] of Object.entries(packages)) {
    const before = new Set(readdirSync(tarballs));
    pnpm(['pack', '--pack-destination', tarballs], dir);
    const made = readdirSync(tarballs).filter((f) => !before.has(f));
    if (made.length !== 1) throw new Error(`pnpm pack of ${name} produced ${made.length} tarballs`);
    files[name] = join(tarballs, made[0]);
  }
  // The rewritten manifests must carry no workspace: protocol (npm cannot resolve it).
  for (const [name, file] of Object.entries(files)) {
    const manifest = execFileSync('tar', ['-xOzf', file, 'package/package.json'], { encoding: 'utf8' });
    if (manifest.includes('workspace:')) throw new Error(`${name}: packed package.json still has a workspace: range`);
    if (name === '@kiln/binding-linux-x64-gnu') {
      const list = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' });
      if (!list.includes('package/kiln.linux-x64-gnu.node')) throw new Error('the platform tarball lacks kiln.linux-x64-gnu.node');
    }
  }
});

step('npm install the tarballs into an empty project', () => {
  const dependencies = Object.fromEntries(Object.entries(files).map(([name, file]) => [name, `file:${file}`]));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'kiln-packaging-check', private: true, dependencies }, null, 2));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', '--ignore-scripts'], {
    cwd: project,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Installed as copies, not links into the workspace.
  const core = JSON.parse(readFileSync(join(project, 'node_modules/@kiln/core/package.json'), 'utf8'));
  if (core.exports['.'].source) throw new Error('@kiln/core was installed with its development exports');
});

function kiln(args) {
  const r = spawnSync('npx', ['--no-install', 'kiln', ...args], { cwd: project, encoding: 'utf8' });
  if (r.status !== 0) {
    const e = new Error(`npx kiln ${args.join(' ')} exited with ${r.status}`);
    Object.assign(e, { stdout: r.stdout, stderr: r.stderr });
    throw e;
  }
  return r;
}

step('npx kiln build <model> -o x.plan', () => {
  kiln(['build', model, '-o', 'x.plan']);
  if (!existsSync(join(project, 'x.plan'))) throw new Error('no x.plan written');
});

step('npx kiln run x.plan', () => {
  kiln(['run', 'x.plan', '--output-dir', 'out']);
  const outputs = readdirSync(join(project, 'out'));
  if (!outputs.some((f) => f.endsWith('.npy'))) throw new Error(`no .npy output written (got ${outputs.join(', ')})`);
});

rmSync(work, { recursive: true, force: true });
summary(0);
