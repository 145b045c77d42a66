/** Forking TypeScript entry points (workers, fuzz drivers) through tsx's loader. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

/** Forks `<this folder>/<file>` (a .ts module) with tsx registered, IPC enabled, stderr inherited. */
export function forkTs(file: string, args: string[] = []): ChildProcess {
  const entry = fileURLToPath(new URL(file, import.meta.url));
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  return fork(entry, args, {
    execArgv: ['--import', tsx],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
}
