// `casemail held list [--json] | show ID [--json] | release ID | discard ID --reason TEXT`: the
// operator's way to see mail the intake held, run it through the intake again, or drop it with
// a reason. Exit 0 done, 1 refused or not found, 2 usage. I/O: the database, and for release the
// intake (MessageHandler, built as `casemail ingest` builds it).
import { MessageHandler } from '../cases/message-handler.js';
import { describeRelease, releaseHeld, type ReleaseIntake } from '../cases/held-release.js';
import { discardHeld, listHeld, showHeld } from '../cases/held-store.js';
import { createUnderstandPool } from '../ingest/understand-pool.js';
import { loadContext, openForCommand, type GlobalOptions } from './context.js';
import { stringifyForTerminal, terminalLine, terminalText } from './terminal-text.js';

function messageId(command: string, value: string): number | null {
  const id = Number(value);
  if (/^\d+$/.test(value) && Number.isSafeInteger(id) && id > 0) return id;
  process.stderr.write(`casemail held ${command}: "${terminalLine(value)}" is not a message id\n`);
  return null;
}

/** Who did it, for the audit event: the operator's login name, else 'operator'. */
function operator(): string {
  return process.env.USER?.trim() || 'operator';
}

export async function runHeldList(opts: GlobalOptions, json: boolean): Promise<number> {
  const ctx = loadContext(opts, 'stderr', { quiet: true });
  if (!ctx) return 1;
  const handle = await openForCommand(ctx, 'held list', { migrate: 'auto', create: 'existing' });
  if (!handle) return 1;
  try {
    const rows = await listHeld(handle.db);
    if (json) {
      process.stdout.write(stringifyForTerminal(rows) + '\n');
      return 0;
    }
    if (rows.length === 0) process.stdout.write('no held messages\n');
    for (const r of rows) {
      const c = r.caseNumber !== null ? `#${r.caseNumber}` : '-';
      process.stdout.write(`${String(r.id).padStart(6)}  ${r.receivedAt}  ${terminalLine(r.from ?? '(no sender)').padEnd(30).slice(0, 30)}  ${c.padEnd(8)}  ${terminalLine(r.reason ?? '')}  ${terminalLine(r.subject ?? '')}\n`);
    }
    return 0;
  } finally {
    await handle.close();
  }
}

export async function runHeldShow(opts: GlobalOptions, value: string, json: boolean): Promise<number> {
  const id = messageId('show', value);
  if (id === null) return 2;
  const ctx = loadContext(opts, 'stderr', { quiet: true });
  if (!ctx) return 1;
  const handle = await openForCommand(ctx, 'held show', { migrate: 'auto', create: 'existing' });
  if (!handle) return 1;
  try {
    const m = await showHeld(handle.db, id);
    if (!m) {
      process.stderr.write(`casemail held show: no held message ${id}\n`);
      return 1;
    }
    if (json) {
      process.stdout.write(stringifyForTerminal(m) + '\n');
      return 0;
    }
    const line = (label: string, v: string) => process.stdout.write(`${label.padEnd(10)}${terminalLine(v)}\n`);
    line('message', String(m.id));
    line('status', m.status);
    line('received', m.receivedAt);
    line('from', m.from ?? '(no sender)');
    line('to', m.to.join(', '));
    if (m.cc.length) line('cc', m.cc.join(', '));
    line('subject', m.subject ?? '');
    line('reason', m.reason ?? '');
    line('case', m.caseNumber !== null ? `#${m.caseNumber}` : '-');
    for (const a of m.attachments) line('attached', `${a.name ?? '(unnamed)'} (${a.size} bytes)`);
    for (const e of m.events) line('event', `${e.at} ${e.kind} by ${e.actor} ${JSON.stringify(e.data)}`);
    process.stdout.write(`\n${terminalText(m.visibleText ?? '')}\n`);
    return 0;
  } finally {
    await handle.close();
  }
}

export async function runHeldDiscard(opts: GlobalOptions, value: string, reason: string | undefined): Promise<number> {
  const id = messageId('discard', value);
  if (id === null) return 2;
  if (!reason?.trim()) {
    process.stderr.write('casemail held discard: --reason TEXT is required (it is kept with the message)\n');
    return 2;
  }
  const ctx = loadContext(opts);
  if (!ctx) return 1;
  const handle = await openForCommand(ctx, 'held discard', { migrate: 'auto', create: 'existing' });
  if (!handle) return 1;
  try {
    const done = await discardHeld(handle.db, id, { reason: reason.trim(), actor: operator(), now: new Date() });
    if (!done.ok) {
      process.stderr.write(`casemail held discard: ${done.why === 'not_found' ? `no message ${id}` : `message ${id} is not held (it is ${done.status})`}\n`);
      return 1;
    }
    process.stdout.write(`message ${id} discarded\n`);
    return 0;
  } finally {
    await handle.close();
  }
}

export async function runHeldRelease(opts: GlobalOptions, value: string): Promise<number> {
  const id = messageId('release', value);
  if (id === null) return 2;
  const ctx = loadContext(opts);
  if (!ctx) return 1;
  const handle = await openForCommand(ctx, 'held release', { migrate: 'auto', create: 'existing' });
  if (!handle) return 1;
  const understanding = createUnderstandPool(ctx.config.settings, ctx.logger, 1);
  try {
    const intake: ReleaseIntake = new MessageHandler({
      db: handle.db, settings: ctx.config.settings, logger: ctx.logger, clock: () => new Date(), replyTokenSecret: ctx.config.secrets.replyTokenSecret,
      parse: (r) => understanding.parse(r),
    });
    const outcome = await releaseHeld(handle.db, intake, id, new Date());
    // A duplicate means the intake did not take the release (the same message is stored): nothing changed.
    if (!outcome.ok || outcome.result.status === 'duplicate') {
      process.stderr.write(`casemail held release: ${terminalLine(describeRelease(id, outcome))}\n`);
      return 1;
    }
    process.stdout.write(`${terminalLine(describeRelease(id, outcome))}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`casemail held release: message ${id} not released: ${terminalLine((err as Error).message)}\n`);
    return 1;
  } finally {
    await understanding.close();
    await handle.close().catch(() => {});
  }
}
