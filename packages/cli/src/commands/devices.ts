/** `kiln devices [--json]`: the GPUs the CUDA backend can use, with driver and library versions. */
import { parse } from '../args.js';
import { UsageError } from '../errors.js';
import { out, printJson } from '../report.js';

export const DEVICES_USAGE = 'usage: kiln devices [--json]';

const GIB = 1024 ** 3;

export async function devicesCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, DEVICES_USAGE);
  if (values.help) {
    out(DEVICES_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, DEVICES_USAGE);
  // Without a driver or GPU this throws KILN_E_BACKEND_UNAVAILABLE with the binding's reason (exit 1).
  const { Device } = await import('@kiln/core');
  const devices = Device.list();
  if (values.json) {
    printJson(devices);
    return 0;
  }
  const head = ['#', 'Name', 'CC', 'Memory (GiB)', 'SMs', 'Driver (CUDA)', 'cuDNN', 'cuBLASLt', 'NVRTC'];
  const rows = devices.map((d) => [
    String(d.ordinal), d.name, d.computeCapability, (d.totalMemoryBytes / GIB).toFixed(1), String(d.smCount),
    d.driverVersion, d.cudnnVersion, d.cublasLtVersion, d.nvrtcVersion,
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  out(line(head));
  for (const r of rows) out(line(r));
  if (devices.length === 0) out('(no CUDA devices)');
  return 0;
}
