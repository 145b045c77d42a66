/**
 * Errors raised by the CLI itself. Coded errors use the same `KILN_E_…` vocabulary as the core
 * (crates/kiln-core/src/error.rs) so scripts can match on one set of codes; usage errors are a
 * separate class because they exit 2 and print the command's usage line.
 */

/** A failure with a stable code: printed as `kiln: CODE: message`, exit 1. */
export class CliError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}

/** Wrong flags/arguments: printed with the usage line, exit 2. */
export class UsageError extends Error {
  readonly usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

export const INVALID_INPUT = 'KILN_E_INVALID_INPUT';
export const INVALID_PROFILE = 'KILN_E_INVALID_PROFILE';
export const UNSUPPORTED = 'KILN_E_UNSUPPORTED';
export const INTERNAL = 'KILN_E_INTERNAL';

/** Extracts `code` and message from anything thrown (native errors carry `code` as a property). */
export function describeError(e: unknown): { code: string; message: string } {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    // Node's own system errors (ENOENT, EACCES…) are not Kiln codes: report them as input errors
    // naming the file, since in the CLI they always come from a path the user gave.
    if (typeof code === 'string' && code.startsWith('KILN_E_')) return { code, message: e.message };
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { code: INVALID_INPUT, message: e.message };
    return { code: INTERNAL, message: e.message || String(e) };
  }
  return { code: INTERNAL, message: String(e) };
}
