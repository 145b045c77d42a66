/**
 * The build progress bar (layers tuned / total) on stderr, from the builder's onProgress callback. Shown only
 * when stderr is a terminal and neither --json nor --quiet was given: logs and pipes get no bar.
 */
export interface BuildProgress {
  /** The callback for BuilderConfig.onProgress; undefined when no bar is shown. */
  onProgress?: (done: number, total: number) => void;
  stop(): void;
}

export async function buildProgress(enabled: boolean): Promise<BuildProgress> {
  if (!enabled || !process.stderr.isTTY) return { stop() {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'kiln: building [{bar}] {value}/{total} layers | {percentage}% | {duration_formatted}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress(done, total) {
      // The total is known only from the first callback.
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
