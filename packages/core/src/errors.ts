/** Errors with a stable `code` (`KILN_E_…`), the same codes the Rust core and the CLI use. */

export class KilnError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KilnError';
    this.code = code;
  }
}

const CODE = /^KILN_E_[A-Z0-9_]+$/;

/**
 * Re-throws what the native binding threw as a `KilnError` with the same code and message, so callers see one
 * error class; anything without a Kiln code is a bug and becomes KILN_E_INTERNAL with the original as `cause`.
 */
export function toKilnError(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && CODE.test(code)) return new KilnError(code, err.message, { cause: err });
    return new KilnError('KILN_E_INTERNAL', err.message, { cause: err });
  }
  return new KilnError('KILN_E_INTERNAL', String(err));
}

/** Runs `fn`, converting any native error into a `KilnError`. */
export function native<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toKilnError(err);
  }
}

/** Awaits `p`, converting any native error into a `KilnError`. */
export async function nativeAsync<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (err) {
    throw toKilnError(err);
  }
}
