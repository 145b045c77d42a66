#!/usr/bin/env node
/**
 * `kiln` entry point: dispatches to one command and maps failures to the exit-code contract:
 * coded errors exit 1 with the last stderr line `kiln: KILN_E_<CODE>: <message>`, usage errors
 * exit 2 with the usage line.
 */
import { UsageError, describeError } from './errors.js';
import { VERSION } from './version.js';

type Command = (argv: string[]) => Promise<number>;

// Commands are imported lazily, and each imports @kiln/core (and so the native addon) only after
// its flags parsed: `--help`, usage errors and trtexec refusals never depend on the addon, and a
// failing addon load surfaces as a coded error.
const COMMANDS: Record<string, () => Promise<Command>> = {
  build: async () => (await import('./commands/build.js')).buildCommand,
  run: async () => (await import('./commands/run.js')).runCommand,
  bench: async () => (await import('./commands/bench.js')).benchCommand,
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
  calibrate: async () => (await import('./commands/calibrate.js')).calibrateCommand,
  cache: async () => (await import('./commands/cache.js')).cacheCommand,
  devices: async () => (await import('./commands/devices.js')).devicesCommand,
  trtexec: async () => {
    return (await import('./commands/trtexec.js')).trtexecCommand;
  },
};

export const MAIN_USAGE = 'usage: kiln <build|run|bench|inspect|calibrate|cache|devices|trtexec> … (kiln <command> --help for its flags)';

const HELP = `${MAIN_USAGE}

Commands:
  build    <model.onnx> -o <file.plan>   build an optimized plan
  run      <model.onnx|file.plan>        run once; writes one .npy per output
  bench    <model.onnx|file.plan>        measure latency and throughput
  inspect  <model.onnx|file.plan>        show the optimized layers, memory and binding of a plan
  calibrate <model.onnx> --data <dir>    INT8 calibration: TensorRT cache, ranges JSON, Q/DQ ONNX, accuracy
  cache    <path|ls|show|merge|prune|clear|export|import|bundle|install>   the timing cache
  devices  [--json]                      list CUDA GPUs (name, compute capability, memory, SMs, versions)
  trtexec  --onnx=… | --loadEngine=…     trtexec-compatible flags and report

Errors exit 1 with the last stderr line 'kiln: KILN_E_<CODE>: <message>'; usage errors exit 2.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined) throw new UsageError('missing command', MAIN_USAGE);
    if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (cmd === '--version' || cmd === '-V') {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    const load = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (!load) throw new UsageError(`unknown command '${cmd}'`, MAIN_USAGE);
    return await (await load())(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kiln: ${e.message}\n${e.usage}\n`);
      return 2;
    }
    const { code, message } = describeError(e);
    // The ONNX front end lists every unsupported node on the error: one line each, before the code line.
    const nodes = (e as { nodes?: unknown }).nodes;
    if (Array.isArray(nodes)) {
      for (const n of nodes as Array<Record<string, unknown>>) {
        process.stderr.write(`  node '${String(n.name)}' (${n.domain ? `${String(n.domain)}::` : ''}${String(n.opType)}, opset ${String(n.opset)}): ${String(n.reason)}\n`);
      }
    }
    if (code === 'KILN_E_INTERNAL' && process.env.KILN_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    // One line: the contract is that the LAST stderr line carries the code.
    process.stderr.write(`kiln: ${code}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}

// `kiln bench … | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`kiln: KILN_E_INTERNAL: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
