// Mail templates: reads templates/<kind>.text.hbs and <kind>.html.hbs (plus the shared
// _layout.html.hbs) once at start-up, compiles them in handlebars strict mode, and renders
// every kind with sample data so a broken template fails the start, not a send at 3 a.m.
// A deployment's folder may hold only the files it changes; the rest come from the shipped one.
// File I/O happens only in loadMailTemplates; rendering is pure.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { MAIL_KINDS, type MailKind, type MailKindData } from './mail-kinds.js';
import { REPLY_MARKER } from '../threading/reply-marker.js';
import { shippedTemplatesDir } from '../config/config.js';

export interface RenderedMail {
  text: string;
  html: string;
}

export interface MailTemplates {
  render<K extends MailKind>(kind: K, data: MailKindData[K]): RenderedMail;
  /** Renders a kind named by an outbox row (stored as text); throws on an unknown kind. */
  renderStored(kind: string, data: unknown): RenderedMail;
}

export class TemplateError extends Error {
  readonly code = 'template_invalid';
  constructor(readonly problems: string[], options?: { cause?: unknown }) {
    super(`mail templates are broken:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.name = 'TemplateError';
  }
}

export function isMailKind(kind: string): kind is MailKind {
  return (MAIL_KINDS as readonly string[]).includes(kind);
}

/** Sample data for the start-up self-check (and the golden tests): every field filled. */
export const SAMPLE_MAIL_DATA: { [K in MailKind]: MailKindData[K] } = {
  acknowledgement: {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    requesterName: 'Dana Fischer',
    severity: 2,
    severityMeaning: 'mild to medium impact on use or usability',
    targetResponseLocal: 'Monday 30 November 2026, 09:00 (Europe/Berlin)', targetDuration: 'within 8 business hours',
    siblings: [{ number: 100043, tag: '[Case #100043]', subject: 'Licence server shows wrong seat count' }],
    supportAddress: 'support@example.com',
    escalationAddress: 'escalation@example.com',
  },
  'not-entitled': {
    reason: 'no_contract',
    senderAddress: 'dana@customer.example',
    supportAddress: 'support@example.com',
  },
  'new-case-notification': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    severity: 2,
    requester: { name: 'Dana Fischer', address: 'dana@customer.example' },
    organisation: 'Customer GmbH',
    targetResponseLocal: 'Monday 30 November 2026, 09:00 (Europe/Berlin)', targetDuration: 'within 8 business hours',
    text: 'Hello,\n\nsince the update to 4.2.1 every PDF export fails with <error 0x80004005>.\n\nDana',
    attachments: [{ filename: 'export.log', size: 18_432 }],
    siblings: [{ number: 100043, tag: '[Case #100043]', subject: 'Licence server shows wrong seat count' }],
  },
  'held-message-notice': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    sender: 'someone@elsewhere.example',
    subject: 'Re: [Case #100042] Export to PDF fails',
    reason: 'sender is not a participant of the case',
  },
  'oversize-notice': {
    subject: 'Full memory dump',
    sizeBytes: 61_865_984,
    limitBytes: 26_214_400,
    supportAddress: 'support@example.com',
  },
  'engineer-relay': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    engineerName: 'Erin Example',
    text: 'Hello Dana,\n\nplease send the export log from C:\\ProgramData\\Example\\export.log.\n\nErin',
    html: '<p>Hello Dana,</p><p>please send the export log from <code>C:\\ProgramData\\Example\\export.log</code>.</p><p>Erin</p>',
  },
  'command-error': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    line: '#severity 5',
    lineNumber: 1,
    problem: 'severity must be 1, 2 or 3',
    validCommands: ['#severity 1|2|3', '#need-info', '#resolved', '#close', '#open', '#assign <address|me>', '#note', '#merge <case number>'],
  },
  'customer-reply-notification': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    from: { name: 'Dana Fischer', address: 'dana@customer.example' },
    state: 'open',
    text: 'Here is the log you asked for.',
    attachments: [{ filename: 'export.log', size: 18_432 }],
    reopened: true,
  },
  'assignment-notice': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    severity: 2,
    state: 'open',
    assignedBy: 'sam@vendor.example',
    organisation: 'Customer GmbH',
    targetResponseLocal: 'Monday 30 November 2026, 09:00 (Europe/Berlin)', targetDuration: 'within 8 business hours',
  },
  'sla-warning': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    severity: 2, state: 'new', organisation: 'Customer GmbH',
    requester: { name: 'Dana Fischer', address: 'dana@customer.example' },
    openedLocal: 'Monday 30 November 2026, 09:00 (Europe/Berlin)', dueLocal: 'Monday 30 November 2026, 17:00 (Europe/Berlin)',
    target: 'within 8 business hours', timeLeft: '2 hours', assignee: 'Erin Example',
  },
  'sla-breach': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    severity: 2, state: 'new', organisation: 'Customer GmbH',
    requester: { name: 'Dana Fischer', address: 'dana@customer.example' },
    openedLocal: 'Monday 30 November 2026, 09:00 (Europe/Berlin)', dueLocal: 'Monday 30 November 2026, 17:00 (Europe/Berlin)',
    target: 'within 8 business hours', timeLeft: '0 minutes', overdueBy: '1 minute', assignee: null,
  },
  'info-reminder': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    requesterName: 'Dana Fischer', askedLocal: 'Monday 30 November 2026, 11:00 (Europe/Berlin)',
    closeLocal: 'Monday 21 December 2026, 11:00 (Europe/Berlin)', final: false, supportAddress: 'support@example.com',
  },
  'confirmation-reminder': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    requesterName: 'Dana Fischer', proposedLocal: 'Monday 30 November 2026, 11:00 (Europe/Berlin)',
    closeLocal: 'Monday 14 December 2026, 11:00 (Europe/Berlin)', final: true,
    closePhrases: ['close', 'confirmed'], supportAddress: 'support@example.com',
  },
  'auto-close-notice': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    requesterName: 'Dana Fischer', reason: 'no_response', waitedBusinessDays: 15,
    reopenUntilLocal: 'Monday 28 December 2026, 11:00 (Europe/Berlin)', reopenWindowDays: 7, supportAddress: 'support@example.com',
  },
  'customer-unreachable': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    address: 'dana@customer.example', reason: '5.1.1', reachable: ['it-desk@customer.example'],
  },
  'escalation-notice': {
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    from: { name: 'Dana Fischer', address: 'dana@customer.example' }, senderRelation: 'participant',
    subject: 'Escalation: case 100042', text: 'We have waited two days for an answer; our month-end run depends on the export.',
    receivedLocal: 'Wednesday 2 December 2026, 10:15 (Europe/Berlin)', times: 2, firstLocal: 'Tuesday 1 December 2026, 16:40 (Europe/Berlin)',
    sla: {
      severity: 2, state: 'open', organisation: 'Customer GmbH', requester: { name: 'Dana Fischer', address: 'dana@customer.example' },
      openedLocal: 'Monday 30 November 2026, 09:00 (Europe/Berlin)', target: 'within 8 business hours',
      dueLocal: 'Monday 30 November 2026, 17:00 (Europe/Berlin)', respondedLocal: null, timeLeft: null, overdueBy: '1 day 17 hours',
      assignee: 'Erin Example',
    },
    lastCustomer: { from: 'dana@customer.example', dateLocal: 'Monday 30 November 2026, 09:00 (Europe/Berlin)', excerpt: 'Since the update to 4.2.1 every PDF export fails.' },
    lastEngineer: { from: 'erin@vendor.example', dateLocal: 'Monday 30 November 2026, 18:30 (Europe/Berlin)', excerpt: 'Please send the export log.' },
    unmatchedNumbers: [],
    escalationAddress: 'escalation@example.com',
  },
  'escalation-receipt': {
    outcome: 'case',
    case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
    state: 'open', senderName: 'Dana Fischer', supportAddress: 'support@example.com', escalationAddress: 'escalation@example.com',
  },
  'org-digest': {
    adminName: 'Ada Admin', organisation: 'Customer GmbH', asOfLocal: 'Wednesday 2 December 2026, 10:15 (Europe/Berlin)',
    cases: [{
      case: { number: 100042, tag: '[Case #100042]', subject: 'Export to PDF fails with error 0x80004005' },
      severity: 2, state: 'open', requester: { name: 'Dana Fischer', address: 'dana@customer.example' }, age: '2 days 1 hour',
      nextDeadline: 'first response overdue since Monday 30 November 2026, 17:00 (Europe/Berlin)',
    }, {
      case: { number: 100057, tag: '[Case #100057]', subject: 'Licence key rejected after renewal' },
      severity: 3, state: 'awaiting_customer', requester: { name: '', address: 'it-desk@customer.example' }, age: '1 hour 20 minutes',
      nextDeadline: 'closes automatically on Wednesday 23 December 2026, 10:00 (Europe/Berlin) without your reply',
    }],
    more: 0, supportAddress: 'support@example.com',
  },
  'admin-command-result': {
    command: 'add contact', outcome: 'contacts', adminName: 'Ada Admin', organisation: 'Customer GmbH',
    contacts: [
      { line: 'lee@customer.example, Lee Park', result: 'added' },
      { line: 'Dana Fischer <dana@customer.example>', result: 'already a contact' },
      { line: 'lee at customer', result: 'invalid address' },
    ],
    omittedLines: 0, licenses: [], todayLocal: '2026-12-02 (Europe/Berlin)', refusal: null, supportAddress: 'support@example.com',
  },
};

/** 18432 -> "18 KB", 61865984 -> "59 MB": sizes as a person reads them. */
export function formatBytes(size: number): string {
  if (!Number.isFinite(size) || size < 0) return `${size} bytes`;
  if (size < 1024) return `${size} bytes`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}

const HELPERS: Record<string, Handlebars.HelperDelegate> = {
  eq: (a: unknown, b: unknown) => a === b,
  bytes: (n: unknown) => formatBytes(Number(n)),
};

interface CompiledKind {
  text: Handlebars.TemplateDelegate;
  html: Handlebars.TemplateDelegate;
}

const STRICT: CompileOptions = {
  strict: true,
  // A misspelt helper is a compile error, not a silent lookup of a missing variable.
  knownHelpers: { eq: true, bytes: true },
  knownHelpersOnly: true,
};
type CompileOptions = Parameters<typeof Handlebars.compile>[1];

export interface LoadTemplatesOptions {
  /**
   * Where a file missing from `dir` is taken from: by default the shipped folder, so a deployment's
   * folder holds only the templates it changes. null: every file must be in `dir`.
   */
  fallbackDir?: string | null;
}

/** "file line 3: message", the line from handlebars' error (its `lineNumber`, or "on line N" of a parse error). */
function describeTemplateError(file: string, err: unknown, what = ''): string {
  const e = err as { message?: unknown; lineNumber?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const lines = message.split('\n');
  let line = typeof e.lineNumber === 'number' ? e.lineNumber : null;
  let text = (lines[0] ?? '').replace(/ - \d+:\d+$/, '').replace(/ not defined in .*$/, ' not defined');
  const parse = /^Parse error on line (\d+):$/.exec(text);
  if (parse) {
    line = Number(parse[1]);
    // The jison message's last line says what it expected and what it found; the middle is an ASCII-art pointer.
    text = `Parse error: ${lines.at(-1) ?? ''}`;
  }
  return `${file}${line !== null ? ` line ${line}` : ''}: ${what}${text}`;
}

/**
 * Loads and checks every template. A file is read from `dir`, or else from the fallback folder
 * (the shipped one by default). Throws TemplateError listing every problem, each naming its file
 * and, where handlebars knows it, the line: missing files, syntax errors, unknown helpers, stray
 * files in `dir`, and sample renders that fail (a variable the data lacks).
 */
export function loadMailTemplates(dir: string, options: LoadTemplatesOptions = {}): MailTemplates {
  const problems: string[] = [];
  const hb = Handlebars.create();
  for (const [name, fn] of Object.entries(HELPERS)) hb.registerHelper(name, fn);
  const requested = options.fallbackDir === undefined ? shippedTemplatesDir() : options.fallbackDir;
  const fallbackDir = requested !== null && path.resolve(requested) !== path.resolve(dir) ? requested : null;

  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch (err) {
    throw new TemplateError([`cannot read the templates folder ${dir}: ${(err as Error).message}`], { cause: err });
  }
  const present = new Set(files);
  /** The file's name as problems report it: a file taken from the fallback folder says so. */
  const label = new Map<string, string>();
  const read = (file: string): string | null => {
    const from = present.has(file) || !fallbackDir ? dir : fallbackDir;
    label.set(file, from === dir ? file : `${file} (from ${fallbackDir})`);
    try {
      return readFileSync(path.join(from, file), 'utf8');
    } catch (err) {
      problems.push(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? `missing${fallbackDir ? ` (in ${dir} and in ${fallbackDir})` : ''}` : (err as Error).message}`);
      return null;
    }
  };
  const compile = (file: string, noEscape: boolean): Handlebars.TemplateDelegate | null => {
    const source = read(file);
    if (source === null) return null;
    try {
      // Compile eagerly: handlebars otherwise defers syntax errors to the first render.
      const template = hb.compile(source, { ...STRICT, noEscape });
      hb.precompile(source, { ...STRICT, noEscape });
      return template;
    } catch (err) {
      problems.push(describeTemplateError(label.get(file) ?? file, err));
      return null;
    }
  };

  const layout = compile('_layout.html.hbs', false);

  const compiled = new Map<MailKind, CompiledKind>();
  for (const kind of MAIL_KINDS) {
    const text = compile(`${kind}.text.hbs`, true);
    const html = compile(`${kind}.html.hbs`, false);
    if (text && html) compiled.set(kind, { text, html });
  }
  // A stray file is usually a misspelt kind whose real template is then missing or stale.
  const expected = new Set(['_layout.html.hbs', ...MAIL_KINDS.flatMap((k) => [`${k}.text.hbs`, `${k}.html.hbs`])]);
  for (const file of files) {
    if (file.endsWith('.hbs') && !expected.has(file)) problems.push(`${file}: matches no mail kind (${MAIL_KINDS.join(', ')})`);
  }
  if (!layout) throw new TemplateError(problems);

  // Each file renders its sample on its own, so a failure names the file that has the variable;
  // the kinds that compiled are checked even when others did not, so one start lists everything.
  for (const [kind, t] of compiled) {
    let body: string | null = null;
    for (const [file, template] of [[`${kind}.text.hbs`, t.text], [`${kind}.html.hbs`, t.html]] as const) {
      try {
        const out = template(SAMPLE_MAIL_DATA[kind]);
        if (file.endsWith('.html.hbs')) body = out;
      } catch (err) {
        problems.push(describeTemplateError(label.get(file) ?? file, err, 'rendering the sample data failed: '));
      }
    }
    if (body === null) continue;
    try {
      layout({ body: new Handlebars.SafeString(body), title: htmlTitle(SAMPLE_MAIL_DATA[kind]) });
    } catch (err) {
      problems.push(describeTemplateError(label.get('_layout.html.hbs') ?? '_layout.html.hbs', err, `rendering the sample data of ${kind} failed: `));
      break;
    }
  }
  if (problems.length > 0) throw new TemplateError(problems);

  const renderKind = (kind: MailKind, data: unknown): RenderedMail => {
    const t = compiled.get(kind);
    if (!t) throw new TemplateError([`no template for kind ${kind}`]);
    const text = normaliseText(withReplyMarker(t.text(data)));
    const body = REPLY_MARKER_HTML + t.html(data);
    const html = layout({ body: new Handlebars.SafeString(body), title: htmlTitle(data) });
    return { text, html };
  };

  const templates: MailTemplates = {
    render: (kind, data) => renderKind(kind, data),
    renderStored: (kind, data) => {
      if (!isMailKind(kind)) throw new TemplateError([`unknown mail kind "${kind}"`]);
      return renderKind(kind, data);
    },
  };

  // The whole path once more (normalising, the layout's title): what a send does must not fail either.
  for (const kind of MAIL_KINDS) {
    try {
      templates.render(kind, SAMPLE_MAIL_DATA[kind]);
    } catch (err) {
      problems.push(`${kind}: rendering sample data failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (problems.length > 0) throw new TemplateError(problems);
  return templates;
}

/**
 * Every kind opens with the reply marker (src/threading/reply-marker.ts): a reply that keeps it
 * is cut there on intake. In HTML a small grey paragraph at the top of the layout body.
 */
function withReplyMarker(text: string): string {
  return `${REPLY_MARKER}\n\n${text}`;
}
const REPLY_MARKER_HTML = `<p style="margin: 0 0 16px 0; font-size: 12px; color: #8c959f;">${Handlebars.escapeExpression(REPLY_MARKER)}</p>\n`;

function htmlTitle(data: unknown): string {
  const c = (data as { case?: { tag?: unknown; subject?: unknown } } | null)?.case;
  return c && typeof c.tag === 'string' && typeof c.subject === 'string' ? `${c.tag} ${c.subject}` : 'Support';
}

/** Template whitespace is for the author: collapse runs of blank lines, trim line ends, end with one newline. */
function normaliseText(text: string): string {
  return `${text
    .replace(/\r\n?/g, '\n')
    // Trailing blanks go, except the signature separator's: "-- " is how mail clients find a signature.
    .replace(/^(?!-- $)(.*?)[ \t]+$/gm, '$1')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}
