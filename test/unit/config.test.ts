// Configuration (issue 2): defaults with no file and no environment, every problem listed with its
// path in one ConfigError, secrets from NAME or NAME_FILE (not both), and a frozen result.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, ownAddresses } from '../../src/config/config.js';
import { tempDir } from '../support/temp-dirs.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('casemail-config-');
});

function writeFile(name: string, content: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

function writeConfig(settings: unknown, name = 'casemail.json'): string {
  return writeFile(name, typeof settings === 'string' ? settings : JSON.stringify(settings));
}

/** The ConfigError a load throws (fails the test when it does not throw one). */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

describe('loadConfig: defaults', () => {
  it('loads with no file and an empty environment, with local-mode defaults', () => {
    const config = loadConfig({ env: {}, cwd: dir });
    const s = config.settings;
    expect(s.addresses.support).toBe('support@casemail.localhost');
    expect(ownAddresses(s)).toEqual(['support@casemail.localhost', 'escalation@casemail.localhost']);
    expect(s.smtpIntake).toMatchObject({ enabled: true, host: '127.0.0.1', port: 2525, lmtp: false, maxConnections: 20, allowedNetworks: [] });
    expect(s.imap.mailboxes).toEqual([]);
    expect(s.caseNumber.prefix).toBe('Case');
    expect(s.calendar).toMatchObject({ timeZone: 'UTC', workingDays: [1, 2, 3, 4, 5], workingHours: { start: '00:00', end: '24:00' } });
    expect(s.severities[1]).toEqual({ targetMinutes: 30, clock: 'continuous' });
    expect(s.timers.reopenWindowDays).toBe(7);
    expect(s.outbox.transport).toBe('auto');
    expect(s.demoDirectory).toBe(true);
    expect(config.secrets).toEqual({ databaseUrl: null, smtpUrl: null, smtpIntakeAuth: null, replyTokenSecret: null, imapUrls: { IMAP_URL: null } });
    expect(config.paths.configFile).toBeNull();
    expect(config.paths.dataDir).toBe(path.join(dir, 'var'));
    expect(existsSync(path.join(config.paths.templatesDir))).toBe(true);
  });

  it('takes the file from CASEMAIL_CONFIG and resolves relative paths against the file, not the working directory', () => {
    const file = writeConfig({ dataDir: 'state', templatesDir: '../tpl', caseNumber: { prefix: 'Ticket' } }, 'etc/casemail.json');
    const config = loadConfig({ env: { CASEMAIL_CONFIG: 'etc/casemail.json' }, cwd: dir });
    expect(config.paths.configFile).toBe(file);
    expect(config.paths.dataDir).toBe(path.join(dir, 'etc', 'state'));
    expect(config.paths.templatesDir).toBe(path.join(dir, 'tpl'));
    expect(config.settings.caseNumber.prefix).toBe('Ticket');
    // the rest of a section the file touches keeps its defaults
    expect(config.settings.caseNumber.start).toBe(100000);
  });

  it('an explicit configFile wins over CASEMAIL_CONFIG', () => {
    const chosen = writeConfig({ caseNumber: { prefix: 'Chosen' } }, 'a.json');
    writeConfig({ caseNumber: { prefix: 'FromEnv' } }, 'b.json');
    const config = loadConfig({ configFile: chosen, env: { CASEMAIL_CONFIG: path.join(dir, 'b.json') } });
    expect(config.settings.caseNumber.prefix).toBe('Chosen');
  });

  it('merges overrides over the file', () => {
    const file = writeConfig({ limits: { maxMessageBytes: 1000, maxRecipients: 5 } });
    const config = loadConfig({ configFile: file, env: {}, overrides: { limits: { maxMessageBytes: 2000 } } });
    expect(config.settings.limits).toMatchObject({ maxMessageBytes: 2000, maxRecipients: 5, maxCasesPerMessage: 10 });
  });

  it('lower-cases configured addresses', () => {
    const config = loadConfig({ env: {}, overrides: { addresses: { support: 'Help@Example.COM', aliases: ['Sales@Example.com'] } } });
    expect(config.settings.addresses.support).toBe('help@example.com');
    expect(config.settings.addresses.aliases).toEqual(['sales@example.com']);
  });
});

describe('loadConfig: every problem at once', () => {
  it('lists every problem of a file with several, each with its path, in one ConfigError', () => {
    const file = writeConfig({
      addresses: { support: 'not an address' },
      calendar: { timeZone: 'Mars/Olympus_Mons', workingDays: [0, 6], workingHours: { start: '25:00' } },
      timers: { slaWarningShare: 1.5 },
      smtpIntake: { port: 70000 },
      outbox: { transport: 'pigeon' },
      surprise: true,
    });
    const err = configError(() => loadConfig({ configFile: file, env: {} }));
    const paths = err.problems.map((p) => p.split(':')[0]);
    expect(paths).toEqual(expect.arrayContaining([
      'addresses.support',
      'calendar.timeZone',
      'calendar.workingDays.0',
      'calendar.workingHours.start',
      'timers.slaWarningShare',
      'smtpIntake.port',
      'outbox.transport',
      '(root)',
    ]));
    expect(err.problems.find((p) => p.startsWith('(root)'))).toMatch(/surprise/);
    expect(err.problems.find((p) => p.startsWith('calendar.timeZone'))).toMatch(/unknown IANA time zone/);
    // the message an operator reads names every one of them
    for (const p of err.problems) expect(err.message).toContain(p);
    expect(err.code).toBe('config_invalid');
  });

  it('reports a misspelt key inside a section (a typo must not silently fall back to the default)', () => {
    const file = writeConfig({ smtpIntake: { prot: 2526 }, timers: { reopenWindowDay: 3 } });
    const err = configError(() => loadConfig({ configFile: file, env: {} }));
    expect(err.problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^smtpIntake: .*prot/),
      expect.stringMatching(/^timers: .*reopenWindowDay/),
    ]));
  });

  it('lists consistency and environment problems together with the file\'s', () => {
    const file = writeConfig({
      addresses: { support: 'help@example.com', escalation: 'HELP@example.com' },
      calendar: { workingHours: { start: '18:00', end: '09:00' } },
      imap: { mailboxes: [{ name: 'support', urlEnv: 'SUPPORT_IMAP_URL' }, { name: 'support', urlEnv: 'IMAP_URL' }] },
      outbox: { transport: 'smtp' },
      smtpIntake: { maxBytesInFlight: 1_000_000 },
    });
    const err = configError(() => loadConfig({ configFile: file, env: { DATABASE_URL: 'mysql://db/x' } }));
    expect(err.problems).toEqual(expect.arrayContaining([
      'calendar.workingHours: start 18:00 must be before end 09:00',
      'addresses.escalation: must differ from addresses.support',
      'imap.mailboxes: duplicate name "support"',
      expect.stringMatching(/^smtpIntake\.maxBytesInFlight: 1000000 is below limits\.maxMessageBytes \(26214400\)/),
      'imap.mailboxes[support]: SUPPORT_IMAP_URL is not set in the environment',
      'imap.mailboxes[support]: IMAP_URL is not set in the environment',
      'DATABASE_URL: expected postgres://…',
      'outbox.transport is "smtp" but SMTP_URL is not set',
    ]));
  });

  it('names the file when it is not JSON, and still lists the environment\'s problems', () => {
    const file = writeConfig('{ "dataDir": "x", }');
    const err = configError(() => loadConfig({ configFile: file, env: { SMTP_URL: 'smtp://a', SMTP_URL_FILE: '/nonexistent' } }));
    expect(err.problems[0]).toContain(`config file ${file}`);
    expect(err.problems).toContain('SMTP_URL and SMTP_URL_FILE are both set; set one');
  });

  it('names a config file that does not exist', () => {
    const err = configError(() => loadConfig({ configFile: path.join(dir, 'missing.json'), env: {} }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/missing\.json.*ENOENT/);
  });
});

describe('loadConfig: secrets from the environment', () => {
  it('reads NAME_FILE for DATABASE_URL, SMTP_URL and IMAP_URL, trimming the trailing newline', () => {
    const env = {
      DATABASE_URL_FILE: writeFile('db', 'postgres://casemail:s3cret@db.internal:5432/casemail\n'),
      SMTP_URL_FILE: writeFile('smtp', 'smtp://relay.internal:25\r\n'),
      IMAP_URL_FILE: writeFile('imap', 'imaps://support:pw@imap.internal'),
    };
    const config = loadConfig({ env, overrides: { imap: { mailboxes: [{ name: 'support' }] } } });
    expect(config.secrets.databaseUrl).toBe('postgres://casemail:s3cret@db.internal:5432/casemail');
    expect(config.secrets.smtpUrl).toBe('smtp://relay.internal:25');
    expect(config.secrets.imapUrls).toEqual({ IMAP_URL: 'imaps://support:pw@imap.internal' });
  });

  it('reads a mailbox\'s own urlEnv, also as _FILE', () => {
    const env = { SALES_IMAP_URL_FILE: writeFile('sales', 'imap://sales:pw@imap.internal\n'), IMAP_URL: 'imap://support:pw@imap.internal' };
    const config = loadConfig({ env, overrides: { imap: { mailboxes: [{ name: 'support' }, { name: 'sales', urlEnv: 'SALES_IMAP_URL' }] } } });
    expect(config.secrets.imapUrls).toEqual({ IMAP_URL: 'imap://support:pw@imap.internal', SALES_IMAP_URL: 'imap://sales:pw@imap.internal' });
  });

  it('takes NAME directly when only NAME is set', () => {
    const config = loadConfig({ env: { DATABASE_URL: 'postgresql://postgres@127.0.0.1/test' } });
    expect(config.secrets.databaseUrl).toBe('postgresql://postgres@127.0.0.1/test');
  });

  it('refuses NAME and NAME_FILE both set, for each secret', () => {
    const env = {
      DATABASE_URL: 'postgres://a/b', DATABASE_URL_FILE: writeFile('db', 'postgres://c/d\n'),
      IMAP_URL: 'imap://a', IMAP_URL_FILE: writeFile('imap', 'imap://b\n'),
    };
    const err = configError(() => loadConfig({ env }));
    expect(err.problems).toEqual(expect.arrayContaining([
      'DATABASE_URL and DATABASE_URL_FILE are both set; set one',
      'IMAP_URL and IMAP_URL_FILE are both set; set one',
    ]));
  });

  it('names the variable and the file when NAME_FILE cannot be read', () => {
    const missing = path.join(dir, 'no-such-secret');
    const err = configError(() => loadConfig({ env: { DATABASE_URL_FILE: missing } }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toContain(`DATABASE_URL_FILE: cannot read ${missing}`);
  });

  it('never takes a secret from the config file', () => {
    const file = writeConfig({ databaseUrl: 'postgres://from/file' });
    const err = configError(() => loadConfig({ configFile: file, env: {} }));
    expect(err.problems.join('\n')).toMatch(/databaseUrl/);
  });
});

describe('loadConfig: the result is frozen', () => {
  it('freezes the config, its sections, nested objects and arrays', () => {
    const config = loadConfig({ env: { DATABASE_URL: 'postgres://x/y', IMAP_URL: 'imap://u:p@h' }, overrides: { imap: { mailboxes: [{ name: 'support' }] } } });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.settings)).toBe(true);
    expect(Object.isFrozen(config.settings.calendar.workingHours)).toBe(true);
    expect(Object.isFrozen(config.settings.calendar.workingDays)).toBe(true);
    expect(Object.isFrozen(config.settings.imap.mailboxes[0])).toBe(true);
    expect(Object.isFrozen(config.secrets.imapUrls)).toBe(true);
    expect(Object.isFrozen(config.paths)).toBe(true);
  });

  it('throws on an attempt to change it (ES modules are strict)', () => {
    const config = loadConfig({ env: {} });
    const settings = config.settings as unknown as { dataDir: string; closePhrases: string[]; smtpIntake: { port: number } };
    expect(() => {
      settings.dataDir = '/elsewhere';
    }).toThrow(TypeError);
    expect(() => {
      settings.smtpIntake.port = 1;
    }).toThrow(TypeError);
    expect(() => settings.closePhrases.push('done')).toThrow(TypeError);
    expect(config.settings.dataDir).toBe('var');
  });

  it('two loads do not share state', () => {
    const a = loadConfig({ env: {}, overrides: { caseNumber: { prefix: 'A' } } });
    const b = loadConfig({ env: {} });
    expect(a.settings.caseNumber.prefix).toBe('A');
    expect(b.settings.caseNumber.prefix).toBe('Case');
  });
});
