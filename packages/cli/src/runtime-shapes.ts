/**
 * The concrete shape each input is fed at by run/bench/trtexec. For a model built here, the
 * profile's opt shape (which `--shapes` sets). For a loaded plan, `--shapes` (or `--optShapes`)
 * picks a shape inside the plan's profile; otherwise the plan's own opt shape.
 */
import type { IoInfo } from '@kiln/core';
import { CliError, INVALID_PROFILE } from './errors.js';
import { parseShapes, runShape, type ShapeFlags, type ShapeRange } from './shapes.js';

export function runtimeShapeOf(inputs: readonly IoInfo[], profile: Record<string, ShapeRange>, flags: ShapeFlags, fromOnnx: boolean): (io: IoInfo) => number[] {
  let chosen = new Map<string, number[]>();
  if (!fromOnnx) {
    const spec = flags.shapes ?? flags.optShapes;
    if (spec !== undefined) {
      chosen = parseShapes(spec, flags.shapes !== undefined ? '--shapes' : '--optShapes');
      for (const name of chosen.keys()) {
        if (!inputs.some((i) => i.name === name)) {
          throw new CliError(INVALID_PROFILE, `the plan has no input '${name}'; its inputs are: ${inputs.map((i) => i.name).join(', ')}`);
        }
      }
    }
  }
  return (io) => chosen.get(io.name) ?? runShape(io, profile);
}
