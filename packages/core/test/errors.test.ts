import { describe, expect, it } from 'vitest';
import { KilnError, native, nativeAsync, toKilnError } from '../src/errors';

describe('KilnError', () => {
  it('is an Error with a code', () => {
    const e = new KilnError('KILN_E_INVALID_INPUT', 'bad');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('KILN_E_INVALID_INPUT');
    expect(e.message).toBe('bad');
    expect(e.name).toBe('KilnError');
  });

  it('keeps the code of native errors', () => {
    const nativeErr = Object.assign(new Error('plan is truncated'), { code: 'KILN_E_CORRUPT_PLAN' });
    const k = toKilnError(nativeErr);
    expect(k.code).toBe('KILN_E_CORRUPT_PLAN');
    expect(k.message).toBe('plan is truncated');
    expect(k.cause).toBe(nativeErr);
  });

  it('maps uncoded errors to KILN_E_INTERNAL', () => {
    expect(toKilnError(Object.assign(new Error('x'), { code: 'InvalidArg' })).code).toBe('KILN_E_INTERNAL');
    expect(toKilnError('boom').code).toBe('KILN_E_INTERNAL');
  });

  it('wraps sync and async native calls', async () => {
    const thrower = (): never => {
      throw Object.assign(new Error('no'), { code: 'KILN_E_PLAN_MISMATCH' });
    };
    expect(() => native(thrower)).toThrow(KilnError);
    await expect(nativeAsync(async () => thrower())).rejects.toMatchObject({ code: 'KILN_E_PLAN_MISMATCH' });
  });
});
