// `casemail start`: the service. Opens the database (the embedded one migrates itself), loads
// the demo directory into an empty local database, compiles templates (a broken one fails the
// start), then runs the outbox dispatcher, the SMTP intake and one IMAP intake per mailbox
// until SIGINT/SIGTERM: stop intake, drain the dispatcher, close the database. Each IMAP intake
// runs only while this instance holds its mailbox lease (several instances share one database).
import { hostname } from 'node:os';
import { demoDirectory } from '../directory/demo-directory.js';
import { directoryIsEmpty, importDirectory } from '../directory/directory-store.js';
import { MessageHandler } from '../cases/message-handler.js';
import { GroupCommitHandler, canGroup } from '../ingest/group-commit.js';
import { databaseCursorStore } from '../cases/mailbox-cursors.js';
import { ownAddresses } from '../config/config.js';
import { createOutboxDispatcher } from '../notify/outbox-dispatcher.js';
import { loadMailTemplates, TemplateError, type MailTemplates } from '../notify/templates.js';
import { terminalText } from './terminal-text.js';
import { SmtpIntake, openRelayProblem } from '../ingest/smtp-intake.js';
import { ImapIntake } from '../ingest/imap-intake.js';
import { MailboxLease } from '../ingest/mailbox-lease.js';
import { createUnderstandPool } from '../ingest/understand-pool.js';
import { startScheduler, type Scheduler } from '../schedule/scheduler.js';
import { loadContext, openAppDatabase, type AppContext, type GlobalOptions } from './context.js';
import type { DatabaseHandle } from '../db/database.js';
import { terminalLine } from './terminal-text.js';
import { ServiceMetrics } from '../metrics/service-metrics.js';
import { checkReadiness, imapReadinessProbe, MetricsServer, type ReadinessProbe } from '../metrics/metrics-server.js';

export interface RunningService {
  /** Where the SMTP intake listens, when enabled. */
  smtp: { host: string; port: number } | null;
  /** Where /metrics, /healthz and /readyz answer, when metrics.enabled. */
  metrics: { host: string; port: number } | null;
  /** Runs a timer sweep now, at the service's clock (what the cron tick does). */
  sweepNow(): Promise<void>;
  stop(): Promise<void>;
}

/** `clock`: what the intake takes as now; the service reads the system clock, scenario tests pass instants. */
/** `templates`: already loaded and checked (runStart does it before the database opens); loaded here otherwise. */
export async function startService(ctx: AppContext, handle: DatabaseHandle, opts: { clock?: () => Date; templates?: MailTemplates } = {}): Promise<RunningService> {
  const { config, logger } = ctx;
  const { settings } = config;

  if (settings.demoDirectory && handle.kind === 'embedded' && (await directoryIsEmpty(handle.db))) {
    const demo = demoDirectory(new Date().toISOString().slice(0, 10));
    const outcome = await importDirectory(handle.db, demo);
    if (outcome.ok) {
      logger.warn({ contact: demo.contacts[0]?.address, engineer: demo.engineers[0]?.address },
        'DEMO directory loaded into the empty local database (one organisation, one contact, one engineer); import your own with `casemail directory import`');
    }
  }

  // Per service, not prom-client's global registry: tests run several services in one process.
  const metrics = settings.metrics.enabled ? new ServiceMetrics({
    db: handle.db, logger: logger.child({ component: 'metrics' }), clock: opts.clock ?? (() => new Date()), cacheMs: settings.metrics.scrapeCacheSeconds * 1000,
  }) : null;
  if (metrics) handle.onConnectionError(() => metrics.recordDependencyError('database'));
  const dispatcher = createOutboxDispatcher({
    config, db: handle.db, logger, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.templates ? { templates: opts.templates } : {}),
    ...(metrics ? { onOutcome: (outcome, row) => metrics.recordDelivery(outcome, row.kind) } : {}),
  });
  const understanding = createUnderstandPool(settings, logger);
  const messageHandler = new MessageHandler({
    db: handle.db, settings, logger: logger.child({ component: 'intake' }), clock: opts.clock ?? (() => new Date()), onOutboxWritten: () => dispatcher.wake(),
    replyTokenSecret: config.secrets.replyTokenSecret,
    understand: (raw) => understanding.understand(raw),
  });
  // The intakes see the handler through the metrics' counting wrapper when metrics are on.
  const handler = metrics ? metrics.countingHandler(messageHandler) : messageHandler;
  // Built (and so checked: credentials, networks, no open relay) before anything starts running.
  const smtp = settings.smtpIntake.enabled
    ? new SmtpIntake({
      host: settings.smtpIntake.host, port: settings.smtpIntake.port, ownAddresses: ownAddresses(settings),
      maxMessageBytes: settings.limits.maxMessageBytes, maxRecipients: settings.limits.maxRecipients, lmtp: settings.smtpIntake.lmtp,
      maxConnections: settings.smtpIntake.maxConnections, maxBytesInFlight: settings.smtpIntake.maxBytesInFlight,
      auth: config.secrets.smtpIntakeAuth, allowedNetworks: settings.smtpIntake.allowedNetworks,
      // SMTP hands over one message per session: group commit coalesces concurrent sessions'
      // messages into one transaction (the IMAP intake groups its batches itself).
      handler: canGroup(handler) ? new GroupCommitHandler(handler, {
        onGroupFailed: (err, messages) => logger.debug({ err, messages }, 'SMTP group commit failed; handling its messages one by one'),
      }) : handler,
      logger: logger.child({ component: 'smtp-intake' }),
    })
    : null;
  const leases: MailboxLease[] = [];
  let scheduler: Scheduler | null = null;
  // Every intake is named from the start, so /readyz is not ready while the service is still starting.
  const intakeProbes = new Map<string, ReadinessProbe>();
  if (smtp) intakeProbes.set('smtp', () => (smtp.listening ? null : 'the SMTP intake is not listening'));
  for (const m of settings.imap.mailboxes) intakeProbes.set(`imap:${m.name}/${m.folder}`, () => 'starting');
  const metricsServer = metrics
    ? new MetricsServer({
      host: settings.metrics.host, port: settings.metrics.port, metrics, logger: logger.child({ component: 'metrics' }),
      readiness: () => checkReadiness({ db: handle.db, clock: opts.clock ?? (() => new Date()), outboxStuckMinutes: settings.metrics.outboxStuckMinutes, intakes: intakeProbes }),
    })
    : null;
  const stop = async () => {
    // Intake and timers first (nothing new comes in), then let in-flight sends finish and record.
    await Promise.allSettled([smtp?.stop(), ...leases.map((l) => l.stop()), scheduler?.stop()]);
    await understanding.close();
    await dispatcher.close();
    await metricsServer?.stop();
  };

  let smtpAddress: { host: string; port: number } | null = null;
  let metricsAddress: { host: string; port: number } | null = null;
  try {
    // First: a metrics port already taken fails the start before anything runs.
    if (metricsServer) metricsAddress = await metricsServer.start();
    dispatcher.start();
    logger.info({ transport: config.secrets.smtpUrl && settings.outbox.transport !== 'file' ? 'smtp' : `files in ${config.paths.dataDir}/outbox` }, 'outbox dispatcher running');
    if (smtp) smtpAddress = await smtp.start();
    for (const m of settings.imap.mailboxes) {
      const u = new URL(config.secrets.imapUrls[m.urlEnv]!);
      const mailbox = `${m.name}/${m.folder}`;
      // A fresh intake (and readiness probe) for every time this instance takes the lease.
      let intake: ImapIntake | null = null;
      let intakeProbe: ReadinessProbe = () => 'starting';
      const lease = new MailboxLease({
        mailbox, connect: () => handle.connectDedicated(), retryMs: settings.imap.leaseRetrySeconds * 1000,
        holderName: `casemail ${hostname()} pid ${process.pid}`, logger,
        onTaken: async () => {
          const taken = new ImapIntake({
            account: m.name, host: u.hostname, port: Number(u.port) || (u.protocol === 'imaps:' ? 993 : 143), secure: u.protocol === 'imaps:',
            user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password), folder: m.folder,
            processedFolder: m.processedFolder, quarantineFolder: m.quarantineFolder, logger: logger.child({ component: 'imap-intake', mailbox: m.name }),
            handler, cursors: databaseCursorStore(handle.db), maxAttempts: 3,
          });
          intakeProbe = imapReadinessProbe(taken, settings.metrics.imapReconnectGraceSeconds);
          if (metrics) taken.on('disconnected', () => metrics.recordDependencyError('imap'));
          intake = taken;
          await taken.start();
          logger.info({ mailbox: m.name, host: u.hostname, folder: m.folder }, 'IMAP intake running');
        },
        onLost: async () => {
          const running = intake;
          intake = null;
          await running?.stop();
          if (running) logger.info({ mailbox: m.name, folder: m.folder }, 'IMAP intake stopped');
        },
        onState: (state) => metrics?.recordLease(mailbox, state === 'held'),
      });
      intakeProbes.set(`imap:${mailbox}`, () => {
        const { state, holder } = lease.current;
        if (state === 'standby') return { fine: `standby${holder ? ` (held by pid ${holder.pid})` : ''}` };
        return state === 'held' ? intakeProbe() : state;
      });
      leases.push(lease);
      await lease.start();
    }
    scheduler = startScheduler({
      db: handle.db, settings, logger: logger.child({ component: 'timers' }), replyTokenSecret: config.secrets.replyTokenSecret,
      clock: opts.clock ?? (() => new Date()), onMailQueued: () => dispatcher.wake(),
      ...(metrics ? { onTick: ({ results, seconds, error }) => metrics.recordSweep(results, seconds, error) } : {}),
    });
    logger.info({ schedule: settings.timers.sweepSchedule }, 'timer sweep scheduled');
  } catch (err) {
    // A half-started service (port in use, ...) must not keep running in the background.
    await stop().catch(() => {});
    throw err;
  }

  return { smtp: smtpAddress, metrics: metricsAddress, stop, sweepNow: async () => { await scheduler?.tick(); } };
}

export async function runStart(opts: GlobalOptions, startOpts: { port?: string } = {}): Promise<void> {
  if (startOpts.port !== undefined && !(/^\d+$/.test(startOpts.port) && Number(startOpts.port) <= 65535)) {
    process.stderr.write(`casemail start: --port "${terminalLine(startOpts.port)}" is not a port number\n`);
    process.exitCode = 2;
    return;
  }
  const ctx = loadContext(opts, 'stdout', startOpts.port !== undefined ? { overrides: { smtpIntake: { port: Number(startOpts.port) } } } : {});
  if (!ctx) {
    process.exitCode = 1;
    return;
  }
  const { logger, config } = ctx;
  logger.info({ config: config.paths.configFile ?? 'built-in defaults', dataDir: config.paths.dataDir }, 'casemail starting');
  const relay = config.settings.smtpIntake.enabled
    ? openRelayProblem(config.settings.smtpIntake.host, config.secrets.smtpIntakeAuth, config.settings.smtpIntake.allowedNetworks)
    : null;
  if (relay) {
    logger.fatal(`refusing to start: ${relay}`);
    process.stderr.write(`casemail: refusing to start: ${relay}\n`);
    process.exitCode = 1;
    return;
  }
  // Before the database: a broken template is an operator's typo, found in a second, on stderr.
  let templates: MailTemplates;
  try {
    templates = loadMailTemplates(config.paths.templatesDir);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    logger.fatal({ problems: err.problems }, 'refusing to start: mail templates are broken');
    process.stderr.write(`casemail: refusing to start: ${terminalText(err.message)}\n`);
    process.exitCode = 1;
    return;
  }
  let handle: DatabaseHandle;
  try {
    handle = await openAppDatabase(ctx, { migrate: 'auto' });
  } catch (err) {
    logger.fatal({ err }, 'cannot open the database');
    process.exitCode = 1;
    return;
  }
  let service: RunningService;
  try {
    service = await startService(ctx, handle, { templates });
  } catch (err) {
    logger.fatal({ err }, 'start failed');
    await handle.close().catch(() => {});
    process.exitCode = 1;
    return;
  }
  logger.info('casemail running; Ctrl-C to stop');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal }, 'stopping: intake first, then the outbox, then the database');
      const force = setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, 4_000);
      force.unref();
      service.stop()
        .catch((err) => logger.error({ err }, 'error while stopping'))
        .then(() => handle.close())
        .catch((err) => logger.error({ err }, 'error while closing the database'))
        .finally(() => {
          logger.info('stopped');
          resolve();
        });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
