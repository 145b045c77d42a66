/**
 * `OnnxError`: what the ONNX front end throws. Codes:
 * - KILN_E_ONNX_INVALID: the file or graph is unreadable or malformed (names the file and node);
 * - KILN_E_ONNX_UNSUPPORTED: valid ONNX that Kiln cannot map; lists *every* such node at once in `.nodes`;
 * - KILN_E_ONNX_EXTERNAL_DATA: external tensor data missing, unreadable or escaping the model folder.
 */
import { KilnError } from '@kiln/core';

export type OnnxErrorCode = 'KILN_E_ONNX_INVALID' | 'KILN_E_ONNX_UNSUPPORTED' | 'KILN_E_ONNX_EXTERNAL_DATA';

/** One node (or graph input/initializer) Kiln cannot import, and why. */
export interface UnsupportedNode {
  name: string;
  opType: string;
  domain: string;
  opset: number;
  reason: string;
}

export class OnnxError extends KilnError {
  /** For KILN_E_ONNX_UNSUPPORTED: every node that could not be mapped. Empty otherwise. */
  readonly nodes: UnsupportedNode[];

  constructor(code: OnnxErrorCode, message: string, options?: { cause?: unknown; nodes?: UnsupportedNode[] }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OnnxError';
    this.nodes = options?.nodes ?? [];
  }

  /** The aggregate error for a list of unsupported nodes, with a readable multi-line message. */
  static unsupported(nodes: UnsupportedNode[], source: string): OnnxError {
    const lines = nodes.map((n) => {
      const domain = n.domain === '' ? 'ai.onnx' : n.domain;
      return `  - node '${n.name}' (${n.opType}, domain ${domain}, opset ${n.opset}): ${n.reason}`;
    });
    const count = nodes.length === 1 ? '1 node' : `${nodes.length} nodes`;
    return new OnnxError(
      'KILN_E_ONNX_UNSUPPORTED',
      `${source}: ${count} cannot be imported by Kiln:\n${lines.join('\n')}\n` +
        'Replace or decompose these nodes (e.g. re-export with another opset, or fold constants with onnx-simplifier) and retry.',
      { nodes },
    );
  }
}

/**
 * Thrown inside op mappers for a node Kiln cannot map (collected into the aggregate error by the
 * importer rather than stopping at the first one).
 */
export class UnsupportedNodeError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'UnsupportedNodeError';
  }
}

/** Thrown by mappers for a node that violates the ONNX spec (missing input, bad attribute). */
export class InvalidNodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidNodeError';
  }
}

/** The message of anything thrown. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
