// `casemail doctor`: one line per check — configuration, database reachability and pending
// migrations, the outbox (pending, sent, failed, held back), clock skew against the database, IMAP
// login per mailbox, SMTP connection — and a non-zero exit when any fails. A warning (autovacuum
// off) is shown without failing. Each check has a timeout so a dead server cannot hang it.
import { sql } from 'kysely';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { openDatabase, pendingMigrations, embeddedDirFor, type DatabaseHandle } from '../db/database.js';
import type { GlobalOptions } from './context.js';
import { outboxSummary } from '../notify/outbox-store.js';
import { terminalLine } from './terminal-text.js';

export interface CheckResult {
  name: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
}

const MAX_SKEW_MS = 5_000;

/** Tables whose rows change state all day (every mail sent, every timer due): their dead rows must be vacuumed. */
const BUSY_TABLES = ['outbox', 'cases', 'mailbox_cursors'] as const;

/**
 * The vacuum check from the server's `autovacuum` setting and the busy tables that turned it off
 * for themselves (reloption autovacuum_enabled=false). Pure.
 */
export function vacuumCheck(serverAutovacuum: string, tablesOff: readonly string[]): CheckResult {
  const why = 'dead rows of sent mail pile up and the outbox dispatcher slows down (vacuum them, e.g. `VACUUM (ANALYZE)` hourly, or turn it on)';
  if (serverAutovacuum !== 'on') return { name: 'vacuum', status: 'warn', detail: `autovacuum is off on this server: ${why}` };
  if (tablesOff.length > 0) return { name: 'vacuum', status: 'warn', detail: `autovacuum is off for ${tablesOff.join(', ')}: ${why}` };
  return { name: 'vacuum', status: 'ok', detail: 'autovacuum on' };
}

async function vacuumFacts(handle: DatabaseHandle): Promise<CheckResult> {
  const setting = await sql<{ autovacuum: string }>`show autovacuum`.execute(handle.db);
  const off = await sql<{ relname: string }>`
    select relname from pg_class
    where relname in (${sql.join([...BUSY_TABLES])}) and relkind = 'r'
      and pg_table_is_visible(oid) and 'autovacuum_enabled=false' = any(coalesce(reloptions, '{}'))
    order by relname`.execute(handle.db);
  return vacuumCheck(setting.rows[0]?.autovacuum ?? 'off', off.rows.map((r) => r.relname));
}
const CHECK_TIMEOUT_MS = 10_000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function runChecks(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let config: Config;
  try {
    config = loadConfig({ configFile: opts.config ?? null, env });
    results.push({ name: 'config', status: 'ok', detail: config.paths.configFile ?? 'built-in defaults (no config file)' });
  } catch (err) {
    const detail = err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message;
    results.push({ name: 'config', status: 'fail', detail });
    return results;
  }

  let handle: DatabaseHandle | null = null;
  try {
    handle = await withTimeout(openDatabase({ databaseUrl: config.secrets.databaseUrl, embeddedDir: embeddedDirFor(config.paths.dataDir), poolSize: 1 }), 'database');
    const t0 = Date.now();
    const row = await withTimeout(sql<{ now: Date }>`select now() as now`.execute(handle.db), 'database');
    const t1 = Date.now();
    results.push({ name: 'database', status: 'ok', detail: `${handle.kind} at ${handle.location}` });
    const pending = await pendingMigrations(handle.db);
    results.push(pending.length === 0 ? { name: 'migrations', status: 'ok', detail: 'up to date' }
      : handle.kind === 'embedded' ? { name: 'migrations', status: 'ok', detail: `pending: ${pending.join(', ')} (the embedded database migrates itself at start)` }
      : { name: 'migrations', status: 'fail', detail: `pending: ${pending.join(', ')} (run \`casemail migrate\`)` });
    if (pending.length === 0) {
      // Failed and held-back mail never goes out by itself: an operator has to look.
      const o = await withTimeout(outboxSummary(handle.db), 'database');
      const oldest = o.oldestPendingAt ? `, oldest pending due ${o.oldestPendingAt.toISOString()}` : '';
      results.push({
        name: 'outbox', status: 'ok',
        detail: `${o.pending} pending, ${o.sent} sent, ${o.failed} failed, ${o.held_back} held back by the automatic-mail limit${oldest}`,
      });
    }
    results.push(await withTimeout(vacuumFacts(handle), 'database'));
    const dbNow = new Date(row.rows[0]!.now).getTime();
    const skew = dbNow - (t0 + t1) / 2;
    results.push(Math.abs(skew) > MAX_SKEW_MS
      ? { name: 'clock', status: 'fail', detail: `this machine and the database differ by ${Math.round(skew)} ms (limit ${MAX_SKEW_MS} ms)` }
      : { name: 'clock', status: 'ok', detail: `skew ${Math.round(skew)} ms` });
  } catch (err) {
    const where = config.secrets.databaseUrl ? 'DATABASE_URL' : `embedded database in ${embeddedDirFor(config.paths.dataDir)}`;
    results.push({ name: 'database', status: 'fail', detail: `${where}: ${(err as Error).message || (err as { code?: string }).code || String(err)}` });
  } finally {
    await handle?.close().catch(() => {});
  }

  const mailboxes = config.settings.imap.mailboxes;
  if (mailboxes.length === 0) results.push({ name: 'imap', status: 'skip', detail: 'no mailboxes configured' });
  for (const m of mailboxes) {
    const url = config.secrets.imapUrls[m.urlEnv];
    try {
      const { ImapFlow } = await import('imapflow');
      const u = new URL(url!);
      const client = new ImapFlow({
        host: u.hostname, port: Number(u.port) || (u.protocol === 'imaps:' ? 993 : 143), secure: u.protocol === 'imaps:',
        auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) }, logger: false,
      });
      await withTimeout(client.connect(), `imap ${m.name}`);
      const status = await withTimeout(client.status(m.folder, { messages: true }), `imap ${m.name}`);
      await client.logout();
      results.push({ name: `imap ${m.name}`, status: 'ok', detail: `${u.hostname}: ${m.folder} has ${status ? status.messages ?? 0 : 0} messages` });
    } catch (err) {
      results.push({ name: `imap ${m.name}`, status: 'fail', detail: (err as Error).message });
    }
  }

  if (!config.secrets.smtpUrl) {
    results.push({ name: 'smtp', status: 'skip', detail: `SMTP_URL not set: outgoing mail is written to ${config.paths.dataDir}/outbox` });
  } else {
    try {
      const nodemailer = await import('nodemailer');
      const transport = nodemailer.createTransport(config.secrets.smtpUrl);
      await withTimeout(transport.verify(), 'smtp');
      transport.close();
      results.push({ name: 'smtp', status: 'ok', detail: `connected to ${new URL(config.secrets.smtpUrl).host}` });
    } catch (err) {
      results.push({ name: 'smtp', status: 'fail', detail: (err as Error).message });
    }
  }
  return results;
}

export async function runDoctor(opts: GlobalOptions): Promise<number> {
  const results = await runChecks(opts);
  // Details quote servers, files and settings: shown, never obeyed by the terminal.
  for (const r of results) process.stdout.write(`${r.status.padEnd(4)}  ${terminalLine(r.name).padEnd(12)} ${terminalLine(r.detail)}\n`);
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
