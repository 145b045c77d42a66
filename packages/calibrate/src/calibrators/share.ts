/**
 * entropy2's scale sharing (TF-TRT PR #25771, calibration.md §1.5): one amax across a Concat's inputs and its
 * output (their max), and a pooling output takes its input's amax. Implemented as union-find over tensor
 * names with the group max: a pool's output never exceeds its input, so on its own that gives exactly
 * "output := input", and chains (a pool feeding a concat) stay consistent.
 */
export interface GraphNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
}

/** ONNX ops whose output shares its (first) input's scale. */
export const POOLING_OPS: ReadonlySet<string> = new Set(['MaxPool', 'AveragePool', 'GlobalMaxPool', 'GlobalAveragePool']);

export function shareScales(ranges: Record<string, number>, nodes: readonly GraphNode[]): Record<string, number> {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    // Path compression keeps this linear in practice on deep concat chains.
    let c = x;
    while (parent.get(c) !== r) {
      const n = parent.get(c)!;
      parent.set(c, r);
      c = n;
    }
    return r;
  };
  for (const name of Object.keys(ranges)) parent.set(name, name);
  const union = (a: string, b: string): void => {
    if (!parent.has(a) || !parent.has(b)) return; // an uncalibrated tensor (constant, int) shares nothing
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  for (const n of nodes) {
    const out = n.outputs[0];
    if (!out) continue;
    if (n.opType === 'Concat') for (const i of n.inputs) if (i) union(i, out);
    if (POOLING_OPS.has(n.opType) && n.inputs[0]) union(n.inputs[0], out);
  }
  const groupMax = new Map<string, number>();
  for (const [name, amax] of Object.entries(ranges)) {
    const r = find(name);
    groupMax.set(r, Math.max(groupMax.get(r) ?? 0, amax));
  }
  const shared: Record<string, number> = {};
  for (const name of Object.keys(ranges)) shared[name] = groupMax.get(find(name))!;
  return shared;
}
