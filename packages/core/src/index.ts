export { KilnError } from './errors';
export { Tensor, dataTypeSize, isDataType, shapeSize, DATA_TYPES } from './tensor';
export type { DataType, TypedArray } from './tensor';
export * from './network';
