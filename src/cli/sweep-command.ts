// `casemail sweep --once [--now ISO] [--json]`: one timer sweep at `now` (default: the clock), for
// operators and tests; it queues mail in the outbox, which the running service delivers. Without
// --once it runs the sweep on its schedule until SIGINT/SIGTERM (a sweep-only process; any number
// may run beside `casemail start`). Exit 0 done, 1 failed, 2 usage. I/O: the database.
import { sweep } from '../schedule/sweep.js';
import { startScheduler } from '../schedule/scheduler.js';
import { loadContext, openForCommand, type GlobalOptions } from './context.js';
import { terminalLine } from './terminal-text.js';

export async function runSweep(opts: GlobalOptions, o: { once?: boolean; now?: string; json?: boolean }): Promise<number> {
  let now: Date | null = null;
  if (o.now !== undefined) {
    now = new Date(o.now);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(o.now) || Number.isNaN(now.getTime())) {
      process.stderr.write(`casemail sweep: --now "${terminalLine(o.now)}" is not an ISO 8601 instant (e.g. 2026-12-07T15:00:00Z)\n`);
      return 2;
    }
    if (!o.once) {
      process.stderr.write('casemail sweep: --now needs --once (a running sweep reads the clock)\n');
      return 2;
    }
  }
  const ctx = loadContext(opts);
  if (!ctx) return 1;
  const handle = await openForCommand(ctx, 'sweep', { migrate: 'auto', create: 'existing' });
  if (!handle) return 1;
  const deps = { db: handle.db, settings: ctx.config.settings, logger: ctx.logger.child({ component: 'timers' }), replyTokenSecret: ctx.config.secrets.replyTokenSecret };
  try {
    if (o.once) {
      const at = now ?? new Date();
      const r = await sweep(deps, at);
      if (o.json) process.stdout.write(JSON.stringify({ at: at.toISOString(), ...r }) + '\n');
      else {
        const events = Object.entries(r.events).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
        process.stdout.write(`sweep at ${at.toISOString()}: ${r.due} due, ${r.acted} acted on, ${r.skipped} skipped, ${r.failed} failed; ${r.mailsQueued} mails queued; events: ${events}${r.more ? '; more are due (batch limit), run again' : ''}\n`);
      }
      return r.failed > 0 ? 1 : 0;
    }
    const scheduler = startScheduler({ ...deps, clock: () => new Date() });
    ctx.logger.info({ schedule: ctx.config.settings.timers.sweepSchedule }, 'timer sweep running; Ctrl-C to stop');
    await new Promise<void>((resolve) => {
      const onSignal = () => { void scheduler.stop().then(resolve); };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    return 0;
  } finally {
    await handle.close();
  }
}
