// The scheduler: a node-cron tick (timers.sweepSchedule, default every minute) that reads the
// clock and runs one sweep at that instant. Ticks never overlap; a tick whose batch limit cut the
// due list goes straight on with the rest. Owns the cron timer; the sweep itself is sweep.ts.
import cron, { type ScheduledTask } from 'node-cron';
import { sweep, type SweepDeps, type SweepResult } from './sweep.js';

export interface Scheduler {
  /** Runs one tick now (as the cron would); resolves with what it did. */
  tick(): Promise<SweepResult[]>;
  stop(): Promise<void>;
}

/** `onTick`: told after every tick what its batches did, how long it took (wall time) and whether it threw (the service's metrics). */
export type SweepTickHook = (tick: { results: SweepResult[]; seconds: number; error: unknown }) => void;

export function startScheduler(deps: SweepDeps & { clock: () => Date; onMailQueued?: () => void; onTick?: SweepTickHook }): Scheduler {
  const { logger } = deps;
  let running: Promise<SweepResult[]> | null = null;
  let stopped = false;

  const runTick = async (): Promise<SweepResult[]> => {
    const results: SweepResult[] = [];
    // A backlog (after downtime) drains batch by batch; each batch is bounded, the tick is not left hanging.
    for (let round = 0; round < 100 && !stopped; round++) {
      const now = deps.clock();
      const r = await sweep(deps, now);
      results.push(r);
      if (r.mailsQueued > 0) deps.onMailQueued?.();
      if (r.acted || r.failed) logger.info({ at: now.toISOString(), ...r }, 'timer sweep acted');
      if (!r.more || r.acted === 0) break;
    }
    return results;
  };

  const tick = (): Promise<SweepResult[]> => {
    if (running) return running;
    const started = performance.now();
    let error: unknown = null;
    running = runTick()
      .catch((err: unknown) => {
        error = err;
        logger.error({ err }, 'timer sweep failed; the next tick tries again');
        return [];
      })
      .then((results) => {
        deps.onTick?.({ results, seconds: (performance.now() - started) / 1000, error });
        return results;
      })
      .finally(() => { running = null; });
    return running;
  };

  const task: ScheduledTask = cron.schedule(deps.settings.timers.sweepSchedule, () => { void tick(); }, { name: 'casemail-sweep', noOverlap: true });
  return {
    tick,
    stop: async () => {
      stopped = true;
      await task.stop();
      await task.destroy();
      if (running) await running;
    },
  };
}
