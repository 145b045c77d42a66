/** What a plan says about itself (`Engine.info`, `kiln inspect`): the serde JSON of `kiln_core::plan::PlanInfo`. */
import type { DataType } from './tensor';

export interface PlanInfo {
  formatVersion: number;
  kilnVersion: string;
  backend: string;
  /** The device the plan was tuned for (CPU model and ISA features, GPU name and compute capability). */
  device: string;
  inputs: IoInfo[];
  outputs: IoInfo[];
  /** Layers after optimization, in execution order. */
  layers: LayerInfo[];
  weightsBytes: number;
  /** Size of the shared activation arena. */
  arenaBytes: number;
  /** What the activations would need without memory reuse (compare with `arenaBytes`). */
  unsharedActivationBytes: number;
}

export interface IoInfo {
  name: string;
  dtype: DataType;
  /** -1 for dynamic dims. */
  dims: number[];
  /** Per optimization profile: [min, opt, max] shapes (inputs with dynamic dims only). */
  profiles: Array<[number[], number[], number[]]>;
}

export interface LayerInfo {
  name: string;
  type: string;
  /** Names of the original layers merged into this one by the optimizer. */
  fusedFrom: string[];
  inputs: string[];
  outputs: string[];
  /** The kernel variant the builder chose for this layer (e.g. `winograd_f2x3`), when it had a choice. */
  tactic?: string;
  /** Median time of that tactic when the builder timed it (or took it from the timing cache), in ms. */
  tacticTimeMs?: number;
}

/** The fixed fields of a plan, readable without loading it. */
export interface PlanHeader {
  formatVersion: number;
  kilnVersion: string;
  backend: string;
  device: string;
}
