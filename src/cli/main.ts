// The one `casemail` command. Subcommands mirror the services; each loads its module lazily so
// `casemail inspect` starts fast and never loads the database or mail transports.
import type { Command as CommandType } from 'commander';
import { terminalText } from './terminal-text.js';

/**
 * `casemail inspect [--json] FILE...` in its plain form skips commander: the corpus scorer and
 * operators start it often, and loading the option parser is a noticeable part of its start-up.
 * Anything else (help, other options, no files) goes through commander as before.
 */
async function inspectFastPath(argv: string[]): Promise<boolean> {
  if (argv[2] !== 'inspect') return false;
  const rest = argv.slice(3);
  const files = rest.filter((a) => a !== '--json');
  if (files.length === 0 || files.some((f) => f.startsWith('-'))) return false;
  const { runInspect } = await import('../inspect/run-inspect.js');
  process.exitCode = await runInspect(files, { json: rest.includes('--json'), out: process.stdout, config: process.env.CASEMAIL_CONFIG || null });
  return true;
}

export async function main(argv: string[]): Promise<void> {
  if (await inspectFastPath(argv)) return;
  const { Command, CommanderError } = await import('commander');
  const program: CommandType = new Command('casemail')
    .description('Email-driven support cases')
    .option('-c, --config <file>', 'configuration file (default: $CASEMAIL_CONFIG, else built-in defaults)')
    .option('-d, --data-dir <dir>', 'data folder: embedded database and file outbox (default: $CASEMAIL_DATA_DIR, else the config\'s dataDir, else ./var)')
    .exitOverride()
    // Commander repeats what it was given ("unknown command '<arg>'"): arguments can come from mail.
    .configureOutput({ outputError: (text, write) => write(terminalText(text)) });

  program
    .command('inspect')
    .description('show what the intake understands from raw messages (touches nothing)')
    .option('--json', 'one JSON object per file (NDJSON)')
    .argument('<files...>', 'raw RFC 5322 message files')
    .action(async (files: string[], opts: { json?: boolean }) => {
      const { runInspect } = await import('../inspect/run-inspect.js');
      const config = (program.opts() as { config?: string }).config ?? process.env.CASEMAIL_CONFIG ?? null;
      process.exitCode = await runInspect(files, { json: opts.json === true, out: process.stdout, config: config || null });
    });

  program
    .command('start')
    .description('run the service: intake, outbox dispatcher and timers')
    .option('-p, --port <port>', 'SMTP intake port (default: $CASEMAIL_SMTP_PORT, else the config\'s smtpIntake.port, else 2525)')
    .action(async (opts: { port?: string }) => {
      const { runStart } = await import('./start-command.js');
      await runStart(program.opts(), opts);
    });

  program
    .command('migrate')
    .description('bring the database schema up to date')
    .action(async () => {
      const { runMigrate } = await import('./admin-commands.js');
      process.exitCode = await runMigrate(program.opts());
    });

  program
    .command('doctor')
    .description('check configuration, database, clock, IMAP and SMTP; non-zero exit when any fails')
    .action(async () => {
      const { runDoctor } = await import('./doctor-command.js');
      process.exitCode = await runDoctor(program.opts());
    });

  program
    .command('ingest')
    .description('store and handle one message from a file or standard input (exit 75 on temporary failure)')
    .argument('[file]', 'message file, or - for standard input', '-')
    .action(async (file: string) => {
      const { runIngest } = await import('./ingest-command.js');
      process.exitCode = await runIngest(program.opts(), file);
    });

  const directory = program.command('directory').description('who is entitled: organisations, contracts, contacts, engineers');
  directory
    .command('import')
    .argument('<file>', 'CSV or JSON directory file')
    .action(async (file: string) => {
      const { runDirectoryImport } = await import('./admin-commands.js');
      process.exitCode = await runDirectoryImport(program.opts(), file);
    });
  directory
    .command('export')
    .option('--format <format>', 'json or csv', 'json')
    .action(async (opts: { format: string }) => {
      const { runDirectoryExport } = await import('./admin-commands.js');
      process.exitCode = await runDirectoryExport(program.opts(), opts.format);
    });

  program
    .command('sweep')
    .description('act on due timers (SLA warnings and breaches, reminders, auto-close); `casemail start` runs it on its schedule')
    .option('--once', 'one sweep, then exit')
    .option('--now <iso>', 'the instant to sweep at (with --once), e.g. 2026-12-07T15:00:00Z')
    .option('--json', 'print the outcome as JSON')
    .action(async (opts: { once?: boolean; now?: string; json?: boolean }) => {
      const { runSweep } = await import('./sweep-command.js');
      process.exitCode = await runSweep(program.opts(), opts);
    });

  const cases = program.command('case').description('look at cases');
  cases
    .command('list')
    .option('--state <state>', 'only cases in this state')
    .option('--json', 'a JSON array (docs/operator-json.md)')
    .action(async (opts: { state?: string; json?: boolean }) => {
      const { runCaseList } = await import('./admin-commands.js');
      process.exitCode = await runCaseList(program.opts(), opts.state, opts.json === true);
    });
  cases
    .command('show')
    .argument('<number>', 'case number')
    .description('the case: header, deadlines and a timeline of messages, events and outgoing mail')
    .option('--json', 'the case and its timeline as JSON (docs/operator-json.md)')
    .action(async (num: string, opts: { json?: boolean }) => {
      const { runCaseShow } = await import('./operator-commands.js');
      process.exitCode = await runCaseShow(program.opts(), num, opts.json === true);
    });

  const outbox = program.command('outbox').description('outgoing mail: look at the queue, retry a failed or held-back mail');
  outbox
    .command('list')
    .description('newest first: status, kind, case, recipients, attempts, last error, next attempt')
    .option('--failed', 'only mail that needs an operator (failed, held_back)')
    .option('--limit <n>', 'at most this many rows', '100')
    .option('--json', 'a JSON array (docs/operator-json.md)')
    .action(async (opts: { failed?: boolean; limit?: string; json?: boolean }) => {
      const { runOutboxList } = await import('./operator-commands.js');
      process.exitCode = await runOutboxList(program.opts(), opts);
    });
  outbox
    .command('retry')
    .argument('<id>', 'outbox id')
    .description('a failed or held-back mail back in the queue, due now, attempts reset (a sent one is refused)')
    .action(async (id: string) => {
      const { runOutboxRetry } = await import('./operator-commands.js');
      process.exitCode = await runOutboxRetry(program.opts(), id);
    });

  const quarantine = program.command('quarantine').description('mail the intake could not handle: look, or retry it through the intake');
  quarantine
    .command('list')
    .option('--json', 'a JSON array (docs/operator-json.md)')
    .action(async (opts: { json?: boolean }) => {
      const { runQuarantineList } = await import('./operator-commands.js');
      process.exitCode = await runQuarantineList(program.opts(), opts.json === true);
    });
  quarantine
    .command('show')
    .argument('<id>', 'message id')
    .option('--json', 'as JSON (docs/operator-json.md)')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { runQuarantineShow } = await import('./operator-commands.js');
      process.exitCode = await runQuarantineShow(program.opts(), id, opts.json === true);
    });
  quarantine
    .command('retry')
    .argument('<id>', 'message id')
    .description('run the stored message through the intake again (after the cause was fixed)')
    .action(async (id: string) => {
      const { runQuarantineRetry } = await import('./operator-commands.js');
      process.exitCode = await runQuarantineRetry(program.opts(), id);
    });

  program
    .command('stats')
    .description('open cases, first responses within target, breaches, business-time response percentiles, auto-closes')
    .requiredOption('--from <date>', 'window start: YYYY-MM-DD in the service time zone, or an ISO instant')
    .requiredOption('--to <date>', 'window end: YYYY-MM-DD (that day included), or an ISO instant')
    .option('--now <iso>', 'the instant the figures are "as of" (default: the clock)')
    .option('--json', 'as JSON (docs/operator-json.md)')
    .action(async (opts: { from?: string; to?: string; now?: string; json?: boolean }) => {
      const { runStats } = await import('./operator-commands.js');
      process.exitCode = await runStats(program.opts(), opts);
    });

  const held = program.command('held').description('mail the intake held: look, release into the intake again, or discard');
  held
    .command('list')
    .option('--json', 'a JSON array (docs/operator-json.md)')
    .action(async (opts: { json?: boolean }) => {
      const { runHeldList } = await import('./held-commands.js');
      process.exitCode = await runHeldList(program.opts(), opts.json === true);
    });
  held
    .command('show')
    .argument('<id>', 'message id')
    .option('--json', 'as JSON (docs/operator-json.md)')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { runHeldShow } = await import('./held-commands.js');
      process.exitCode = await runHeldShow(program.opts(), id, opts.json === true);
    });
  held
    .command('release')
    .argument('<id>', 'message id')
    .description('run the stored message through the intake again (e.g. after a directory fix)')
    .action(async (id: string) => {
      const { runHeldRelease } = await import('./held-commands.js');
      process.exitCode = await runHeldRelease(program.opts(), id);
    });
  held
    .command('discard')
    .argument('<id>', 'message id')
    .requiredOption('--reason <text>', 'why (kept with the message and in the audit event)')
    .action(async (id: string, opts: { reason: string }) => {
      const { runHeldDiscard } = await import('./held-commands.js');
      process.exitCode = await runHeldDiscard(program.opts(), id, opts.reason);
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    throw err;
  }
}
