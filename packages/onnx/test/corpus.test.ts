/**
 * Parses every model of the ONNX node-test corpus (when it is beside the checkout) into a recording
 * fake network: each must import or fail as KILN_E_ONNX_UNSUPPORTED — never as invalid/internal,
 * which would mean a mapping bug. Numerical checks are the conformance package's job.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeNative } from './helpers';
import { Network } from '@kiln/core';
import { parseOnnxSync } from '../src/index';

const CORPUS = process.env.KILN_ONNX_CORPUS ?? path.resolve(__dirname, '../../../../shared/onnx-backend-tests/node');

describe.skipIf(!fs.existsSync(CORPUS))('ONNX node-test corpus (parse only)', () => {
  it('imports each model or reports it unsupported', () => {
    const failures: string[] = [];
    let imported = 0;
    let unsupported = 0;
    for (const test of fs.readdirSync(CORPUS).sort()) {
      const file = path.join(CORPUS, test, 'model.onnx');
      if (!fs.existsSync(file)) continue;
      try {
        parseOnnxSync(file, { network: new Network(new FakeNative()) });
        imported++;
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'KILN_E_ONNX_UNSUPPORTED') unsupported++;
        else failures.push(`${test}: ${code}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    console.log(`corpus: ${imported} imported, ${unsupported} unsupported, ${failures.length} failed`);
    expect(failures).toEqual([]);
    expect(imported).toBeGreaterThan(900);
  });
});
