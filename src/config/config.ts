// Configuration: one JSON file (path from --config or CASEMAIL_CONFIG) for behaviour, and the
// environment for connection strings and secrets (each also as <NAME>_FILE). Read once at start,
// validated completely (every problem listed with its path; unknown keys, likely typos, are problems
// at every level), frozen, and passed down.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { z } from 'zod';
import { isTimeZone } from '../calendar/business-calendar.js';
import { isHolidayRegion } from '../calendar/region-holidays.js';
import cron from 'node-cron';

function isCronExpression(expr: string): boolean {
  return cron.validate(expr);
}

const timeOfDay = z.string().regex(/^([01]\d|2[0-4]):[0-5]\d$/, 'expected HH:MM (24:00 allowed as end of day)');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');
const emailAddress = z.string().email().transform((s) => s.toLowerCase());

const severityTarget = z.strictObject({
  /** Target for the initial response, in minutes. */
  targetMinutes: z.number().int().positive(),
  /** "continuous" counts every minute; "business" counts only business time. */
  clock: z.enum(['continuous', 'business']),
});

const mailboxSchema = z.strictObject({
  /** Name used in logs and in the cursor table, e.g. "support". */
  name: z.string().min(1),
  /** Environment variable holding the IMAP URL of this account (default IMAP_URL). */
  urlEnv: z.string().default('IMAP_URL'),
  folder: z.string().default('INBOX'),
  processedFolder: z.string().default('Processed'),
  quarantineFolder: z.string().default('Quarantine'),
});

export const configSchema = z.object({
  addresses: z.strictObject({
    support: emailAddress.default('support@casemail.localhost'),
    escalation: emailAddress.default('escalation@casemail.localhost'),
    /** Extra addresses we own (per-product or per-team aliases); mail to them is intake too. */
    aliases: z.array(emailAddress).default([]),
    /** More addresses that mean "escalate" (e.g. escalate@, urgent@) when the MTA delivers them here unrewritten. */
    escalationAliases: z.array(emailAddress).default([]),
    /** Team queue addresses that get new-case notifications when a case has no assignee. */
    queue: emailAddress.nullable().default(null),
  }).prefault({}),
  /** Domain of the Message-IDs we generate; mail carrying one is our own coming back. */
  messageIdDomain: z.string().min(1).default('casemail.localhost'),
  /** Header we put on everything we send, to recognise loops. */
  loopHeader: z.string().default('X-Casemail-Loop'),
  caseNumber: z.strictObject({
    prefix: z.string().min(1).default('Case'),
    start: z.number().int().positive().default(100000),
  }).prefault({}),
  calendar: z.strictObject({
    timeZone: z.string().refine(isTimeZone, 'unknown IANA time zone').default('UTC'),
    /** ISO weekday numbers, 1 = Monday ... 7 = Sunday. */
    workingDays: z.array(z.number().int().min(1).max(7)).min(1).default([1, 2, 3, 4, 5]),
    workingHours: z.strictObject({ start: timeOfDay.default('00:00'), end: timeOfDay.default('24:00') }).prefault({}),
    holidays: z.array(isoDate).default([]),
    /** Optional country/region rule set, e.g. "DE" or "US-CA" (date-holidays). */
    holidayRegion: z.string().refine(isHolidayRegion, 'unknown holiday region (date-holidays country, country-state or country-state-region, e.g. "DE-BY")').nullable().default(null),
  }).prefault({}),
  severities: z.strictObject({
    1: severityTarget.default({ targetMinutes: 30, clock: 'continuous' }),
    2: severityTarget.default({ targetMinutes: 8 * 60, clock: 'business' }),
    3: severityTarget.default({ targetMinutes: 24 * 60, clock: 'business' }),
  }).prefault({}),
  timers: z.strictObject({
    slaWarningShare: z.number().gt(0).lt(1).default(0.75),
    infoReminderDays: z.array(z.number().int().positive()).default([5, 10]),
    confirmationReminderDays: z.array(z.number().int().positive()).default([7]),
    infoAutoCloseDays: z.number().int().positive().default(15),
    confirmationAutoCloseDays: z.number().int().positive().default(10),
    reopenWindowDays: z.number().int().nonnegative().default(7),
    /** node-cron expression of the sweep tick (default every minute); each tick acts on what is due at that instant. */
    sweepSchedule: z.string().refine(isCronExpression, 'invalid cron expression (five or six fields, e.g. "* * * * *")').default('* * * * *'),
    /** Cases one sweep tick handles at most; the rest wait for the next tick (a backlog after downtime drains in steps). */
    sweepBatch: z.number().int().positive().default(5000),
  }).prefault({}),
  closePhrases: z.array(z.string().min(1)).default([
    'close', 'close it', 'please close', 'resolved', 'yes resolved', 'confirmed', 'you can close this case',
  ]),
  limits: z.strictObject({
    maxMessageBytes: z.number().int().positive().default(25 * 1024 * 1024),
    maxRecipients: z.number().int().positive().default(1000),
    /** Cases opened from one message at most; further issues stay in the last case. */
    maxCasesPerMessage: z.number().int().positive().default(10),
    /** New cases opened per sender address per rolling hour; past it, one case per message. */
    maxNewCasesPerSenderPerHour: z.number().int().positive().default(20),
    /** Acknowledgements sent per sender address per rolling hour; past it, none until the hour passes. */
    maxAcknowledgementsPerSenderPerHour: z.number().int().positive().default(20),
    /**
     * Automatic mail (Auto-Submitted: acknowledgements, notices, reminders) queued to one address
     * per rolling hour; past it the mail is held back (outbox status held_back) and never sent.
     * Stops loops with auto-responders that ignore Auto-Submitted.
     */
    maxAutomaticMailPerAddressPerHour: z.number().int().positive().default(10),
    /** The same limit for our engineers' own addresses, whose notifications are their work queue: higher, still bounded (a loop through an engineer's auto-responder). */
    maxAutomaticMailPerEngineerPerHour: z.number().int().positive().default(200),
    /** MIME parts read per message; the rest becomes one opaque part and a warning. */
    maxMimeParts: z.number().int().positive().default(1000),
    /** MIME nesting depth read; deeper parts stay raw data and a warning. */
    maxMimeDepth: z.number().int().positive().default(50),
    /** Time budget of the understanding step (parse, classify) in a worker thread; over it the message is quarantined. */
    understandTimeoutMs: z.number().int().positive().default(2000),
  }).prefault({}),
  /**
   * Reply tokens (secret: REPLY_TOKEN_SECRET; without it none are used): the Reply-To of every
   * case mail is `support+c<number>.<hmac>@<support domain>`, so a reply threads even with its
   * subject and headers gone, and what we send carries the VERP return path
   * `support+bounce-<outbox id>.<hmac>@<support domain>`, so a bounce names the mail it is about.
   */
  replyTokens: z.strictObject({
    enabled: z.boolean().default(true),
  }).prefault({}),
  /** Who gets a new case. */
  assignment: z.strictObject({
    /**
     * 'round-robin': the active engineers (role engineer) of `team` take turns, the one assigned
     * longest ago first; 'queue': cases stay unassigned and go to addresses.queue (else to every
     * active engineer) until an engineer takes one with `#assign me`.
     */
    rule: z.enum(['round-robin', 'queue']).default('round-robin'),
    /** Team whose engineers take turns; null = every active engineer. */
    team: z.string().min(1).nullable().default(null),
  }).prefault({}),
  /** Folder of handlebars templates (relative to the config file, or the working directory); default: the ones shipped. */
  templatesDir: z.string().nullable().default(null),
  /** Where the embedded database, file outbox and other local state live. */
  dataDir: z.string().default('var'),
  smtpIntake: z.strictObject({
    enabled: z.boolean().default(true),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(2525),
    lmtp: z.boolean().default(false),
    /** Simultaneous SMTP connections; further clients get 421 and retry. */
    maxConnections: z.number().int().positive().default(20),
    /**
     * Message bytes held in memory across all SMTP sessions; past it new DATA gets 451. 32 MiB: one
     * message of the largest size (25 MiB) at a time, which keeps the service's peak memory near
     * 300-330 MB with five 25 MB senders at once (docs/operations.md). Keep it above limits.maxMessageBytes.
     */
    maxBytesInFlight: z.number().int().positive().default(32 * 1024 * 1024),
    /** Client networks (CIDR) allowed to send without AUTH, e.g. ["10.0.0.0/8"]; loopback always is. */
    allowedNetworks: z.array(z.string()).default([]),
  }).prefault({}),
  imap: z.strictObject({
    mailboxes: z.array(mailboxSchema).default([]),
    /**
     * Several instances on one database: each mailbox is consumed by one instance at a time (a
     * lease). A standing-by instance tries to take it this often; the holder checks its lease as often.
     */
    leaseRetrySeconds: z.number().min(0.05).max(60).default(5),
  }).prefault({}),
  outbox: z.strictObject({
    /** "auto": SMTP when SMTP_URL is set, else .eml files under <dataDir>/outbox. */
    transport: z.enum(['auto', 'smtp', 'file']).default('auto'),
    maxAttempts: z.number().int().positive().default(12),
    /** First retry delay; doubles each attempt. */
    retryBaseSeconds: z.number().positive().default(30),
    /**
     * How often the dispatcher looks for due rows when nothing woke it: mail this process queues is
     * sent at once; mail another process queued (`casemail sweep`, another instance) within this.
     */
    pollSeconds: z.number().positive().default(5),
    /**
     * Bound on one SMTP wait of the relay (connect, greeting, each reply): a relay that hangs is
     * cut after this and the mail retried. Connect and greeting wait at most 30 s of it.
     */
    smtpTimeoutSeconds: z.number().positive().default(120),
  }).prefault({}),
  /** The Prometheus and health endpoints (/metrics, /healthz, /readyz); off unless enabled. */
  metrics: z.strictObject({
    enabled: z.boolean().default(false),
    /** Keep it on loopback or a private network: the endpoints have no authentication. */
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9464),
    /** /readyz fails while a pending outgoing mail has been due longer than this. */
    outboxStuckMinutes: z.number().positive().default(15),
    /** /readyz fails once an IMAP intake has been reconnecting longer than this. */
    imapReconnectGraceSeconds: z.number().positive().default(300),
    /** How long one read of the database gauges (outbox, open cases) serves scrapes; 0 reads on every scrape. */
    scrapeCacheSeconds: z.number().nonnegative().default(5),
  }).prefault({}),
  /** Trust an upstream Authentication-Results header from this authserv-id (admin commands need DKIM/SPF pass). */
  trustAuthResultsFrom: z.string().nullable().default(null),
  /** Load the demo directory into an empty database (local mode). */
  demoDirectory: z.boolean().default(true),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).strict();

export type CasemailSettings = z.infer<typeof configSchema>;

/** Connection strings and secrets, from the environment only. */
export interface Secrets {
  databaseUrl: string | null;
  smtpUrl: string | null;
  /** SMTP intake credentials "user:password" (SMTP_INTAKE_AUTH); when set, the intake offers AUTH PLAIN/LOGIN. */
  smtpIntakeAuth: string | null;
  /** Key of the reply-token HMAC (REPLY_TOKEN_SECRET); without it no VERP return path is used. */
  replyTokenSecret: string | null;
  /** IMAP URLs by environment variable name (IMAP_URL and any mailbox's urlEnv). */
  imapUrls: Record<string, string | null>;
}

export interface Config {
  settings: CasemailSettings;
  secrets: Secrets;
  /** Absolute paths resolved from settings. */
  paths: { dataDir: string; templatesDir: string; configFile: string | null };
}

export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads NAME, or the file named by NAME_FILE (trailing newline trimmed). */
export function readSecret(env: Env, name: string, problems: string[]): string | null {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) problems.push(`${name} and ${name}_FILE are both set; set one`);
  if (direct) return direct;
  if (file) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  return null;
}

export interface LoadOptions {
  configFile?: string | null;
  env?: Env;
  cwd?: string;
  /** Settings merged over the file (tests, one-off overrides). */
  overrides?: unknown;
  /** `--data-dir`: the data folder, relative to the working directory (wins over CASEMAIL_DATA_DIR and the file). */
  dataDir?: string | null;
}

/** Loads, validates and freezes the configuration. Throws ConfigError listing every problem. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];
  const configFile = options.configFile ?? env.CASEMAIL_CONFIG ?? null;

  let fileSettings: unknown = {};
  if (configFile) {
    try {
      fileSettings = JSON.parse(readFileSync(path.resolve(cwd, configFile), 'utf8'));
    } catch (err) {
      problems.push(`config file ${configFile}: ${(err as Error).message}`);
    }
  }
  // The common local settings without a config file: CASEMAIL_DATA_DIR and CASEMAIL_SMTP_PORT, and
  // --data-dir on the command line. Paths given there are read from the working directory.
  const fromEnv: Record<string, unknown> = {};
  const dataDir = options.dataDir ?? env.CASEMAIL_DATA_DIR;
  if (dataDir) fromEnv.dataDir = path.resolve(cwd, dataDir);
  if (env.CASEMAIL_SMTP_PORT !== undefined && env.CASEMAIL_SMTP_PORT !== '') {
    const port = Number(env.CASEMAIL_SMTP_PORT);
    if (/^\d+$/.test(env.CASEMAIL_SMTP_PORT) && port <= 65535) fromEnv.smtpIntake = { port };
    else problems.push(`CASEMAIL_SMTP_PORT: "${env.CASEMAIL_SMTP_PORT}" is not a port number`);
  }
  const merged = deepMerge(deepMerge(fileSettings, fromEnv), options.overrides ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
    }
  }

  const settings = parsed.success ? parsed.data : null;
  if (settings) checkConsistency(settings, problems);

  const urlEnvs = new Set(['IMAP_URL', ...(settings?.imap.mailboxes.map((m) => m.urlEnv) ?? [])]);
  const imapUrls: Record<string, string | null> = {};
  for (const name of urlEnvs) imapUrls[name] = readSecret(env, name, problems);
  const secrets: Secrets = {
    databaseUrl: readSecret(env, 'DATABASE_URL', problems),
    smtpUrl: readSecret(env, 'SMTP_URL', problems),
    smtpIntakeAuth: readSecret(env, 'SMTP_INTAKE_AUTH', problems),
    replyTokenSecret: readSecret(env, 'REPLY_TOKEN_SECRET', problems),
    imapUrls,
  };
  for (const m of settings?.imap.mailboxes ?? []) {
    if (!imapUrls[m.urlEnv]) problems.push(`imap.mailboxes[${m.name}]: ${m.urlEnv} is not set in the environment`);
  }
  if (secrets.databaseUrl && !/^postgres(ql)?:\/\//.test(secrets.databaseUrl)) {
    problems.push('DATABASE_URL: expected postgres://…');
  }
  if (settings?.outbox.transport === 'smtp' && !secrets.smtpUrl) problems.push('outbox.transport is "smtp" but SMTP_URL is not set');

  if (problems.length > 0 || !settings) throw new ConfigError(problems);

  const base = configFile ? path.dirname(path.resolve(cwd, configFile)) : cwd;
  const config: Config = {
    settings,
    secrets,
    paths: {
      dataDir: path.resolve(base, settings.dataDir),
      templatesDir: settings.templatesDir ? path.resolve(base, settings.templatesDir) : shippedTemplatesDir(),
      configFile: configFile ? path.resolve(cwd, configFile) : null,
    },
  };
  return deepFreeze(config);
}

/** The templates folder of this package (source tree or compiled dist/ alike). */
export function shippedTemplatesDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../templates'), path.resolve(here, '../../../templates')];
  return candidates.find((c) => existsSync(path.join(c, '_layout.html.hbs'))) ?? candidates[0]!;
}

function checkConsistency(s: CasemailSettings, problems: string[]): void {
  const { start, end } = s.calendar.workingHours;
  if (start >= end) problems.push(`calendar.workingHours: start ${start} must be before end ${end}`);
  if (s.addresses.support === s.addresses.escalation) problems.push('addresses.escalation: must differ from addresses.support');
  if (s.smtpIntake.maxBytesInFlight < s.limits.maxMessageBytes) {
    // A message of the largest size allowed would never fit: every try answered 451, for ever.
    problems.push(`smtpIntake.maxBytesInFlight: ${s.smtpIntake.maxBytesInFlight} is below limits.maxMessageBytes (${s.limits.maxMessageBytes}); the largest messages would never be taken`);
  }
  const names = new Set<string>();
  for (const m of s.imap.mailboxes) {
    if (names.has(m.name)) problems.push(`imap.mailboxes: duplicate name "${m.name}"`);
    names.add(m.name);
  }
}

/** Every address the service owns; mail to any of them is intake. */
export function ownAddresses(settings: CasemailSettings): string[] {
  const a = settings.addresses;
  return [a.support, a.escalation, ...a.aliases, ...a.escalationAliases];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
