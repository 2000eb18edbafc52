// Mail templates: golden output for every kind (text and HTML), strict mode, escaping, and the
// start-up check that lists every broken template. Regenerate the golden files after a deliberate
// wording change with UPDATE_GOLDEN=1 and review the diff.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MailKind, MailKindData } from '../../src/notify/mail-kinds.js';
import { MAIL_KINDS } from '../../src/notify/mail-kinds.js';
import { REPLY_MARKER } from '../../src/threading/reply-marker.js';
import { formatBytes, loadMailTemplates, SAMPLE_MAIL_DATA, TemplateError } from '../../src/notify/templates.js';
import { boundMailData } from '../../src/notify/mail-bounds.js';
import { tempDir } from '../support/temp-dirs.js';

const TEMPLATES = path.resolve('templates');
const GOLDEN = path.resolve('test/fixtures/golden');
const update = process.env.UPDATE_GOLDEN === '1';
const templates = loadMailTemplates(TEMPLATES);

function golden(file: string, actual: string): void {
  const p = path.join(GOLDEN, file);
  if (update) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(p, actual);
  }
  expect(existsSync(p), `golden file ${file} is missing; run with UPDATE_GOLDEN=1 and review it`).toBe(true);
  expect(actual).toBe(readFileSync(p, 'utf8'));
}

interface Case<K extends MailKind = MailKind> {
  name: string;
  kind: K;
  data: MailKindData[K];
}

/** Customer text that looks like template syntax, markup and an entity: it must arrive as written. */
const CUSTOMER_TEXT = 'Hello {{name}},\n{{#each x}}item{{/each}} and {{{raw}}}\n<script>alert(1)</script>\nTom &amp; Jerry & {{> partial}}';

const cases: Case[] = [
  ...MAIL_KINDS.map((kind) => ({ name: kind, kind, data: SAMPLE_MAIL_DATA[kind] })),
  {
    name: 'acknowledgement-single-no-name', kind: 'acknowledgement',
    data: { ...SAMPLE_MAIL_DATA.acknowledgement, requesterName: '', siblings: [], severity: 1, severityMeaning: 'production down or inoperable' },
  },
  { name: 'not-entitled-unknown-sender', kind: 'not-entitled', data: { ...SAMPLE_MAIL_DATA['not-entitled'], reason: 'unknown_sender' } },
  { name: 'not-entitled-inactive-contact', kind: 'not-entitled', data: { ...SAMPLE_MAIL_DATA['not-entitled'], reason: 'inactive_contact' } },
  {
    name: 'new-case-notification-hostile-text', kind: 'new-case-notification',
    data: {
      ...SAMPLE_MAIL_DATA['new-case-notification'],
      case: { number: 100050, tag: '[Case #100050]', subject: '<img src=x onerror=alert(1)> & "quotes"' },
      requester: { name: '', address: 'eve@customer.example' },
      text: '<script>alert("hi")</script>\nPlease run: rm -rf / && echo \'done\'',
      attachments: [],
      siblings: [],
    },
  },
  {
    name: 'new-case-notification-template-syntax', kind: 'new-case-notification',
    data: {
      ...SAMPLE_MAIL_DATA['new-case-notification'],
      case: { number: 100051, tag: '[Case #100051]', subject: 'Report {{name}} shows &amp;' },
      requester: { name: '{{#each x}}Eve{{/each}}', address: 'eve@customer.example' },
      text: CUSTOMER_TEXT,
      attachments: [{ filename: '{{name}}<b>.log', size: 10 }],
    },
  },
  {
    name: 'customer-reply-notification-template-syntax', kind: 'customer-reply-notification',
    data: {
      ...SAMPLE_MAIL_DATA['customer-reply-notification'],
      from: { name: '<script>alert(1)</script>', address: 'eve@customer.example' },
      text: CUSTOMER_TEXT,
    },
  },
  {
    name: 'sla-warning-queue-no-name', kind: 'sla-warning',
    data: { ...SAMPLE_MAIL_DATA['sla-warning'], assignee: null, requester: { name: '', address: 'dana@customer.example' }, severity: 1, target: 'within 30 minutes', timeLeft: '7 minutes',
      dueLocal: 'Monday 30 November 2026, 09:30 (Europe/Berlin)' },
  },
  { name: 'sla-breach-assigned', kind: 'sla-breach', data: { ...SAMPLE_MAIL_DATA['sla-breach'], assignee: 'Erin Example', overdueBy: '3 days 4 hours' } },
  { name: 'info-reminder-final', kind: 'info-reminder', data: { ...SAMPLE_MAIL_DATA['info-reminder'], final: true, requesterName: '' } },
  { name: 'confirmation-reminder-first', kind: 'confirmation-reminder', data: { ...SAMPLE_MAIL_DATA['confirmation-reminder'], final: false, closePhrases: [] } },
  { name: 'auto-close-notice-resolved', kind: 'auto-close-notice', data: { ...SAMPLE_MAIL_DATA['auto-close-notice'], reason: 'auto_resolved', waitedBusinessDays: 10 } },
  { name: 'customer-unreachable-nobody', kind: 'customer-unreachable', data: { ...SAMPLE_MAIL_DATA['customer-unreachable'], reachable: [] } },
  {
    // As the outbox row stores it: the text clipped with where the rest is, 60 attachments listed as 50 lines.
    name: 'new-case-notification-bounded', kind: 'new-case-notification',
    data: boundMailData('new-case-notification', {
      ...SAMPLE_MAIL_DATA['new-case-notification'],
      text: Array.from({ length: 400 }, (_, i) => `Line ${i}: the export stops with E42.`).join('\n'),
      attachments: Array.from({ length: 60 }, (_, i) => ({ filename: `part-${i}.log`, size: 1024 * (i + 1) })),
    }),
  },
  { name: 'org-digest-empty', kind: 'org-digest', data: { ...SAMPLE_MAIL_DATA['org-digest'], cases: [] } },
  {
    name: 'admin-command-result-licenses', kind: 'admin-command-result',
    data: {
      ...SAMPLE_MAIL_DATA['admin-command-result'], command: 'licenses', outcome: 'licenses', contacts: [],
      licenses: [
        { product: 'Server', startsOn: '2026-01-01', endsOn: '2027-12-31', daysLeft: 394, remaining: '394 days left' },
        { product: 'Desktop', startsOn: '2024-01-01', endsOn: '2025-12-31', daysLeft: -336, remaining: 'ended 336 days ago' },
      ],
    },
  },
  {
    name: 'admin-command-result-refused', kind: 'admin-command-result',
    data: {
      ...SAMPLE_MAIL_DATA['admin-command-result'], command: 'cases', outcome: 'refused', contacts: [],
      refusal: {
        reason: 'neither DKIM, SPF nor DMARC passed for customer.example at mx.vendor.example.',
        missing: 'a DKIM signature of customer.example, an SPF pass for a customer.example envelope sender, or a DMARC pass for customer.example',
        seen: ['dkim=fail (header.d=customer.example)', 'spf=softfail (smtp.mailfrom=bounce@mailer.example)'],
      },
    },
  },
];

describe('mail templates', () => {
  it.each(cases)('renders $name as the golden text and HTML', ({ name, kind, data }) => {
    const { text, html } = templates.render(kind, data as never);
    golden(`${name}.txt`, text);
    golden(`${name}.html`, html);
  });

  it('escapes customer text and subjects in HTML and keeps them verbatim in text', () => {
    const hostile = cases.find((c) => c.name === 'new-case-notification-hostile-text')!;
    const { text, html } = templates.render('new-case-notification', hostile.data as MailKindData['new-case-notification']);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;');
    expect(html).toContain('<title>[Case #100050] &lt;img src&#x3D;x onerror&#x3D;alert(1)&gt; &amp; &quot;quotes&quot;</title>');
    expect(text).toContain('<script>alert("hi")</script>');
    expect(text).toContain('rm -rf / && echo \'done\'');
  });

  it.each(['new-case-notification', 'customer-reply-notification'] as const)('shows customer text in %s literally in text and escaped in HTML, braces staying braces', (kind) => {
    const data = cases.find((c) => c.name === `${kind}-template-syntax`)!.data;
    const { text, html } = templates.render(kind, data as never);
    // Text: exactly as written, once; the template engine never evaluates customer text.
    expect(text).toContain(`${CUSTOMER_TEXT}\n----- end of customer's message -----`);
    expect(text).not.toContain('&lt;');
    // HTML: markup and the entity escaped, braces untouched.
    expect(html).toContain('Hello {{name}},\n{{#each x}}item{{/each}} and {{{raw}}}\n&lt;script&gt;alert(1)&lt;/script&gt;\nTom &amp;amp; Jerry &amp; {{&gt; partial}}');
    expect(html).not.toMatch(/<script/i);
    if (kind === 'new-case-notification') {
      expect(text).toContain('Requester:     {{#each x}}Eve{{/each}} <eve@customer.example>');
      expect(text).toContain('{{name}}<b>.log (10 bytes)');
      expect(html).toContain('{{name}}&lt;b&gt;.log (10 bytes)');
      expect(html).toContain('<title>[Case #100051] Report {{name}} shows &amp;amp;</title>');
    } else {
      // Line 1 is the reply marker, line 2 blank; the template's own first line follows.
      expect(text.split('\n')[2]).toBe('<script>alert(1)</script> <eve@customer.example> wrote on [Case #100042] Export to PDF fails with error 0x80004005');
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &lt;eve@customer.example&gt;');
    }
  });

  it('states what the spec asks of an acknowledgement', () => {
    const { text } = templates.render('acknowledgement', SAMPLE_MAIL_DATA.acknowledgement);
    for (const needle of ['[Case #100042]', 'will be validated by an engineer', 'within 8 business hours: by\nMonday 30 November 2026, 09:00 (Europe/Berlin)', 'version',
      'error messages', 'steps', 'log files', 'screenshots', 'keep [Case #100042] in the subject', 'escalation@example.com', '[Case #100043]']) {
      expect(text).toContain(needle);
    }
  });

  it('never quotes the original message in a not-entitled notice (it has no field for it)', () => {
    const { text } = templates.render('not-entitled', SAMPLE_MAIL_DATA['not-entitled']);
    expect(text).not.toMatch(/^>/m);
    expect(Object.keys(SAMPLE_MAIL_DATA['not-entitled']).sort()).toEqual(['reason', 'senderAddress', 'supportAddress']);
  });

  it('fails a render whose data lacks a variable (strict mode), instead of printing nothing', () => {
    const data = { ...SAMPLE_MAIL_DATA.acknowledgement } as Partial<MailKindData['acknowledgement']>;
    delete data.targetResponseLocal;
    expect(() => templates.render('acknowledgement', data as MailKindData['acknowledgement'])).toThrow(/targetResponseLocal/);
  });

  it('refuses a stored row of an unknown kind', () => {
    expect(() => templates.renderStored('no-such-kind', {})).toThrow(TemplateError);
    expect(templates.renderStored('oversize-notice', SAMPLE_MAIL_DATA['oversize-notice']).text).toContain('59 MB');
  });
});

describe('loadMailTemplates start-up check', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  function brokenCopy(): string {
    dir = tempDir('casemail-templates-');
    cpSync(TEMPLATES, dir, { recursive: true });
    return dir;
  }

  it('lists every problem at once: unknown variable, syntax error, unknown helper, missing file, stray file', () => {
    const d = brokenCopy();
    writeFileSync(path.join(d, 'acknowledgement.text.hbs'), 'Hello {{requesterNam}}\n');
    writeFileSync(path.join(d, 'acknowledgement.html.hbs'), '<p>{{#if severity}}unclosed</p>\n');
    writeFileSync(path.join(d, 'oversize-notice.text.hbs'), '{{shout subject}}\n');
    unlinkSync(path.join(d, 'held-message-notice.html.hbs'));
    writeFileSync(path.join(d, 'acknowledgment.text.hbs'), 'typo in the kind\n');
    const error = loadError(d, { fallbackDir: null });
    const problems = error.problems.join('\n');
    expect(problems).toMatch(/acknowledgement\.html\.hbs line 2: Parse error: .*got 'EOF'/);
    expect(problems).toMatch(/oversize-notice\.text\.hbs line 1: .*unknown helper shout/);
    expect(problems).toMatch(/held-message-notice\.html\.hbs: missing/);
    expect(problems).toMatch(/acknowledgment\.text\.hbs: matches no mail kind/);
    expect(error.code).toBe('template_invalid');
  });

  function loadError(d: string, options?: Parameters<typeof loadMailTemplates>[1]): TemplateError {
    try {
      loadMailTemplates(d, options);
    } catch (err) {
      expect(err).toBeInstanceOf(TemplateError);
      return err as TemplateError;
    }
    throw new Error(`loadMailTemplates(${d}) did not fail`);
  }

  it('fails the start when a template uses a variable the sample data does not have, naming the file and line', () => {
    const d = brokenCopy();
    writeFileSync(path.join(d, 'not-entitled.text.hbs'), 'Hello,\n\nDear {{senderName}}\n');
    writeFileSync(path.join(d, 'sla-breach.html.hbs'), '<p>{{case.tag}}</p>\n<p>{{requester.title}}</p>\n');
    const problems = loadError(d).problems;
    expect(problems).toContain('not-entitled.text.hbs line 3: rendering the sample data failed: "senderName" not defined');
    expect(problems.join('\n')).toMatch(/^sla-breach\.html\.hbs line 2: rendering the sample data failed: "title" not defined$/m);
    // The text template of the same kind is fine and not blamed.
    expect(problems.join('\n')).not.toMatch(/sla-breach\.text\.hbs/);
  });

  it('names the file and line of a syntax error and of a block closed by the wrong name', () => {
    const d = brokenCopy();
    writeFileSync(path.join(d, 'sla-warning.text.hbs'), '{{case.tag}}\nDue: {{dueLocal}}\nTarget: {{target}} {{/if}}\nLeft: {{timeLeft}}\n');
    writeFileSync(path.join(d, 'info-reminder.html.hbs'), '<p>Hello</p>\n{{#if final}}\n<p>last</p>\n{{/each}}\n');
    const problems = loadError(d).problems.join('\n');
    expect(problems).toMatch(/^sla-warning\.text\.hbs line 3: Parse error: Expecting .*got 'OPEN_ENDBLOCK'$/m);
    expect(problems).toMatch(/^info-reminder\.html\.hbs line 2: if doesn't match each$/m);
    expect(loadError(d).message).toContain('sla-warning.text.hbs line 3: Parse error');
  });

  it('takes every file a deployment folder lacks from the shipped folder', () => {
    dir = tempDir('casemail-templates-override-');
    writeFileSync(path.join(dir, 'acknowledgement.text.hbs'), 'Dear {{requesterName}}, your case is {{case.tag}}; we answer {{targetDuration}}.\n');
    const overridden = loadMailTemplates(dir);
    const ack = overridden.render('acknowledgement', SAMPLE_MAIL_DATA.acknowledgement);
    expect(ack.text).toBe(`${REPLY_MARKER}\n\nDear Dana Fischer, your case is [Case #100042]; we answer within 8 business hours.\n`);
    // Its HTML and every other kind are the shipped ones.
    expect(ack.html).toBe(templates.render('acknowledgement', SAMPLE_MAIL_DATA.acknowledgement).html);
    for (const kind of MAIL_KINDS.filter((k) => k !== 'acknowledgement')) {
      expect(overridden.render(kind, SAMPLE_MAIL_DATA[kind] as never)).toEqual(templates.render(kind, SAMPLE_MAIL_DATA[kind] as never));
    }
  });

  it('still checks a deployment folder: its broken file and its stray file are named, shipped files are not blamed', () => {
    dir = tempDir('casemail-templates-override-');
    writeFileSync(path.join(dir, 'auto-close-notice.text.hbs'), 'Hello\n\n{{#if final}}\n');
    writeFileSync(path.join(dir, 'sla-warnings.text.hbs'), '{{target}}\n');
    const problems = loadError(dir).problems;
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^auto-close-notice\.text\.hbs line 4: Parse error/);
    expect(problems[1]).toMatch(/^sla-warnings\.text\.hbs: matches no mail kind/);
  });

  it('says where it looked when a file is in neither folder, and names a broken fallback file with its folder', () => {
    const d = brokenCopy();
    unlinkSync(path.join(d, 'customer-unreachable.text.hbs'));
    const fallback = tempDir('casemail-templates-fallback-');
    try {
      expect(loadError(d, { fallbackDir: fallback }).problems).toEqual([`customer-unreachable.text.hbs: missing (in ${d} and in ${fallback})`]);
      writeFileSync(path.join(fallback, 'customer-unreachable.text.hbs'), '{{address}\n');
      expect(loadError(d, { fallbackDir: fallback }).problems[0]).toMatch(`customer-unreachable.text.hbs (from ${fallback}) line 1: Parse error`);
    } finally {
      rmSync(fallback, { recursive: true, force: true });
    }
  });

  it('fails the start when the folder is missing', () => {
    expect(() => loadMailTemplates(path.join(tmpdir(), 'casemail-no-such-templates'))).toThrow(TemplateError);
  });
});

describe('formatBytes', () => {
  it.each([[0, '0 bytes'], [1023, '1023 bytes'], [1024, '1 KB'], [18_432, '18 KB'], [1536, '1.5 KB'], [26_214_400, '25 MB'], [3 * 1024 ** 3, '3 GB']])(
    '%d -> %s', (n, s) => expect(formatBytes(n)).toBe(s));
});
