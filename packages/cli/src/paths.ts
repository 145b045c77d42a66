/** Path checks shared by the commands; no native imports, so they run before the addon loads. */
import { existsSync, statSync } from 'node:fs';
import { CliError, INVALID_INPUT } from './errors.js';

export function isOnnxPath(path: string): boolean {
  return /\.onnx$/i.test(path);
}

/** Fails with a coded error naming the path instead of a raw ENOENT from deep inside a parser. */
export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new CliError(INVALID_INPUT, `${what} '${path}' does not exist`);
  if (!statSync(path).isFile()) throw new CliError(INVALID_INPUT, `${what} '${path}' is not a file`);
}
