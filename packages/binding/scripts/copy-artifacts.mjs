#!/usr/bin/env node
// Copies each built `kiln.<platform>.node` (napi build puts it next to the loader, for development) into its
// platform package `npm/<platform>/`, which is what gets packed and published. Fails when no binary exists for
// any platform package, so a release can never ship an empty platform package by accident.
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npmDir = join(root, 'npm');
let copied = 0;
for (const platform of readdirSync(npmDir)) {
  const pkg = JSON.parse(readFileSync(join(npmDir, platform, 'package.json'), 'utf8'));
  const file = pkg.main;
  const built = join(root, file);
  if (existsSync(built)) {
    copyFileSync(built, join(npmDir, platform, file));
    console.log(`copied ${file} → npm/${platform}/`);
    copied++;
  } else {
    console.log(`no ${file} built on this machine; npm/${platform}/ left as is`);
  }
}
if (copied === 0) {
  console.error('no native binary found: run `pnpm --filter @kiln/binding build` first');
  process.exit(1);
}
