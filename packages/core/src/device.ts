/**
 * `Device.list()`: the GPUs the CUDA backend can use, with the library versions it found. The native export
 * (`listDevices`) exists only in bindings built with the CUDA backend, so it is feature-detected: an older or
 * CPU-only addon reports KILN_E_BACKEND_UNAVAILABLE, as a machine without a GPU does.
 */
import { binding } from './native';
import { KilnError, toKilnError } from './errors';

/** One GPU as the CUDA backend sees it. */
export interface DeviceInfo {
  /** CUDA device ordinal (`BuilderConfig.device`, `--device N`). */
  ordinal: number;
  /** e.g. "NVIDIA H100 80GB HBM3". */
  name: string;
  /** "major.minor", e.g. "9.0". */
  computeCapability: string;
  totalMemoryBytes: number;
  /** Streaming multiprocessors. */
  smCount: number;
  /** The CUDA version the driver supports, e.g. "13.0". */
  driverVersion: string;
  /** e.g. "9.19.0", or "unavailable: <why>" when the library could not be loaded. */
  cudnnVersion: string;
  cublasLtVersion: string;
  nvrtcVersion: string;
}

/** The shape of the native export (not yet in every build's index.d.ts). */
interface DeviceBinding {
  listDevices?: () => DeviceInfo[];
}

function field<T>(d: Record<string, unknown>, key: string, check: (v: unknown) => v is T): T {
  const v = d[key];
  if (!check(v)) throw new KilnError('KILN_E_INTERNAL', `the native binding's listDevices() returned a device without a valid '${key}' (got ${JSON.stringify(v)})`);
  return v;
}
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

export class Device {
  /**
   * The CUDA devices of this machine. Throws KILN_E_BACKEND_UNAVAILABLE (with the binding's reason: no driver,
   * no GPU, or a binding built without the CUDA backend).
   */
  static list(): DeviceInfo[] {
    const b = binding as unknown as DeviceBinding;
    if (typeof b.listDevices !== 'function') {
      throw new KilnError('KILN_E_BACKEND_UNAVAILABLE', 'this build of the native binding has no CUDA backend (no listDevices export); install a build with CUDA support');
    }
    let list: unknown;
    try {
      list = b.listDevices();
    } catch (e) {
      // Coded errors (KILN_E_BACKEND_UNAVAILABLE from the binding, KILN_E_OUT_OF_MEMORY…) keep their code; anything
      // uncoded comes from the driver/loader layer and means the backend cannot be used here.
      const k = toKilnError(e);
      if (k.code !== 'KILN_E_INTERNAL') throw k;
      throw new KilnError('KILN_E_BACKEND_UNAVAILABLE', `the CUDA backend cannot list devices: ${k.message}`, { cause: e });
    }
    if (!Array.isArray(list)) throw new KilnError('KILN_E_INTERNAL', "the native binding's listDevices() did not return an array");
    return list.map((raw: unknown) => {
      if (raw === null || typeof raw !== 'object') throw new KilnError('KILN_E_INTERNAL', "the native binding's listDevices() returned a non-object device");
      const d = raw as Record<string, unknown>;
      return {
        ordinal: field(d, 'ordinal', isNum),
        name: field(d, 'name', isStr),
        computeCapability: field(d, 'computeCapability', isStr),
        totalMemoryBytes: field(d, 'totalMemoryBytes', isNum),
        smCount: field(d, 'smCount', isNum),
        driverVersion: field(d, 'driverVersion', isStr),
        cudnnVersion: field(d, 'cudnnVersion', isStr),
        cublasLtVersion: field(d, 'cublasLtVersion', isStr),
        nvrtcVersion: field(d, 'nvrtcVersion', isStr),
      };
    });
  }
}
