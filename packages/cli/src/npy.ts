/**
 * NumPy `.npy` reader/writer: one implementation, in @kiln/calibrate (its `/npy` entry loads no native code,
 * so commands can read inputs before the addon loads). Errors carry `code` KILN_E_INVALID_INPUT.
 */
export { readNpy, readNpyHeader, writeNpy, NpyError, type NpyArray, type NpyDType, type NpyData, type NpyHeader } from '@kiln/calibrate/npy';
