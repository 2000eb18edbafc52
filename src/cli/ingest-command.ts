// `casemail ingest [FILE|-]`: the pipe intake. An MTA delivers one message to standard input;
// exit 0 once it is stored (in a case, held or quarantined), 75 (EX_TEMPFAIL) when it could not
// be stored and the MTA should try again later. It queues mail; `casemail start` sends it.
import { readFileSync } from 'node:fs';
import { MessageHandler } from '../cases/message-handler.js';
import { isEmptyMessageError } from '../ingest/intake-errors.js';
import { loadContext, openAppDatabase, type GlobalOptions } from './context.js';
import { terminalLine } from './terminal-text.js';
import { createUnderstandPool } from '../ingest/understand-pool.js';

export const EX_TEMPFAIL = 75;
/** sysexits.h EX_DATAERR: the input itself is bad (an empty message); retrying cannot help. */
export const EX_DATAERR = 65;

async function readInput(file: string): Promise<Buffer> {
  if (file !== '-') return readFileSync(file);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function runIngest(opts: GlobalOptions, file: string): Promise<number> {
  let raw: Buffer;
  try {
    raw = await readInput(file);
  } catch (err) {
    process.stderr.write(`casemail ingest: cannot read ${terminalLine(file)}: ${terminalLine((err as Error).message)}\n`);
    return EX_TEMPFAIL;
  }
  const ctx = loadContext(opts);
  if (!ctx) return EX_TEMPFAIL;
  let handle;
  try {
    handle = await openAppDatabase(ctx, { migrate: 'auto' });
  } catch (err) {
    process.stderr.write(`casemail ingest: database unavailable: ${terminalLine((err as Error).message)}\n`);
    return EX_TEMPFAIL;
  }
  // The same time budget as the service: a message over it is quarantined, not left to the MTA's timeout.
  const understanding = createUnderstandPool(ctx.config.settings, ctx.logger, 1);
  try {
    const handler = new MessageHandler({
      db: handle.db, settings: ctx.config.settings, logger: ctx.logger, clock: () => new Date(), replyTokenSecret: ctx.config.secrets.replyTokenSecret,
      parse: (r) => understanding.parse(r),
    });
    const result = await handler.handle(raw, { kind: 'pipe', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: [] });
    process.stdout.write(`${result.status}${result.caseNumbers.length ? ` ${result.caseNumbers.map((n) => `#${n}`).join(' ')}` : ''}${result.reason ? ` (${terminalLine(result.reason)})` : ''}\n`);
    return 0;
  } catch (err) {
    if (isEmptyMessageError(err)) {
      process.stderr.write(`casemail ingest: refused: ${terminalLine((err as Error).message)}\n`);
      return EX_DATAERR;
    }
    process.stderr.write(`casemail ingest: not stored, try again later: ${terminalLine((err as Error).message)}\n`);
    return EX_TEMPFAIL;
  } finally {
    await understanding.close();
    await handle.close().catch(() => {});
  }
}
