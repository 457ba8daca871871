import { availableParallelism, cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How many cores are free right now, measured: the idle share of all cores over a short window
 * (`os.cpus()` times), so an ONNX Runtime session next to another heavy job (a second worker, a
 * test run, another pipeline) does not oversubscribe the machine.
 */

export interface CoreLoad {
  /** Cores this process may use (`os.availableParallelism()`). */
  cores: number;
  /** Cores idle during the sample, rounded, at least 1 and at most `cores`. */
  free: number;
  /** Some core was busy with another job: thread spinning should be off. */
  shared: boolean;
}

function idleAndTotal(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const { user, nice, sys, idle: cpuIdle, irq } = cpu.times;
    idle += cpuIdle;
    total += user + nice + sys + cpuIdle + irq;
  }
  return { idle, total };
}

/**
 * Samples the machine for `sampleMs` while this thread waits. A core counts as busy when less
 * than ~70% of it was idle, so the brief ticks of an otherwise idle machine do not cost a thread.
 */
export async function measureCoreLoad(sampleMs = 250): Promise<CoreLoad> {
  const cores = availableParallelism();
  const machineCores = Math.max(cpus().length, 1);
  const before = idleAndTotal();
  await sleep(sampleMs);
  const after = idleAndTotal();
  const total = after.total - before.total;
  const idleShare = total > 0 ? (after.idle - before.idle) / total : 1;
  const idleCores = idleShare * machineCores;
  const free = Math.min(cores, Math.max(1, Math.floor(idleCores + 0.3)));
  return { cores, free, shared: free < cores };
}
