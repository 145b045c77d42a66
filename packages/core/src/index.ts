export { KilnError } from './errors';
export { Tensor, dataTypeSize, isDataType, shapeSize, DATA_TYPES } from './tensor';
export type { DataType, TypedArray } from './tensor';
export * from './network';
export { Builder, backends, readPlanHeader } from './builder';
export type { BuilderConfig, BuildReport, BuildResult, Int8Config, ShapeRange } from './builder';
export { Engine, ExecutionContext } from './engine';
export type { CalibrationStat } from './engine';
export type { PlanInfo, IoInfo, LayerInfo, PlanHeader } from './info';
