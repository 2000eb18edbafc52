// Issue splitting (spec section 4): split / do-not-split examples, one per writing habit.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMessageSync } from '../../src/ingest/parse-message.js';
import { explainSplit, isReply, splitIssues } from '../../src/threading/split-issues.js';
import { understandParsed } from '../../src/threading/understanding.js';
import { DEFAULT_INSPECT_OPTIONS } from '../../src/inspect/inspect-options.js';
import { MUST_NOT_SPLIT, MUST_SPLIT, SECOND_BATCH, THIRD_BATCH, type SegmentExample } from '../fixtures/split-examples.js';

interface Example {
  name: string;
  subject?: string;
  text: string;
  /** Number of parts expected (1 = not split). */
  parts: number;
  titles?: string[];
}

const SPLIT: Example[] = [
  {
    name: 'numbered "1." items with real descriptions',
    text: `Hello,\n\nwe have two problems since the upgrade to 7.4:\n\n1. The PDF export of monthly reports fails with error E-4021 for every report larger than 20 pages.\n\n2. Users in the Sales group can no longer see the dashboard widgets that were shared with them.\n\nThanks,\nAnna`,
    parts: 2,
    titles: ['The PDF export of monthly reports fails with error E-4021 for every report…', 'Users in the Sales group can no longer see the dashboard widgets that were…'],
  },
  {
    name: '"2)" style items without an announcement',
    text: `Hi team,\n\n1) The nightly backup job stops at 80 % and leaves the database locked until somebody restarts the service.\n2) Scheduled emails are sent twice to every recipient since Monday, which confuses our customers a lot.\n\nRegards`,
    parts: 2,
  },
  {
    name: '"Issue 1:" / "Issue 2:" labels',
    text: `Dear support,\n\nIssue 1: Login via SSO redirects back to the login page in an endless loop.\nIssue 2: The audit log is empty for all events after 1 March.\n\nBest regards,\nTom`,
    parts: 2,
    titles: ['Login via SSO redirects back to the login page in an endless loop', 'The audit log is empty for all events after 1 March'],
  },
  {
    name: '"Problem 1 -" labels with descriptions on following lines',
    text: `Hello,\n\nProblem 1 -\nThe import wizard rejects CSV files that contain semicolons inside quoted fields.\n\nProblem 2 -\nThe license page shows 0 days left although our contract runs until December.\n\nKind regards`,
    parts: 2,
    titles: ['The import wizard rejects CSV files that contain semicolons inside quoted fields', 'The license page shows 0 days left although our contract runs until December'],
  },
  {
    name: '"First issue:" / "Second issue:"',
    text: `Hi,\n\nFirst issue: the mobile app crashes as soon as a user opens a ticket with an attachment.\n\nSecond issue: push notifications arrive hours late on Android devices, sometimes not at all.\n\nThanks`,
    parts: 2,
    titles: ['The mobile app crashes as soon as a user opens a ticket with an attachment', 'Push notifications arrive hours late on Android devices, sometimes not at all'],
  },
  {
    name: '"First," / "Second," paragraphs',
    text: `Good morning,\n\nFirst, the report designer freezes for a minute whenever we add a chart to a page.\n\nSecond, exported Excel files lose their number formatting, so totals show as text.\n\nCheers,\nMia`,
    parts: 2,
  },
  {
    name: '"Firstly" / "Secondly" / "Finally"',
    text: `Hello,\n\nFirstly, the calendar sync with Exchange drops all recurring meetings after the first one.\n\nSecondly, the search does not find customers by their VAT number any more since version 3.2.\n\nFinally, the invoice PDF shows the wrong currency symbol for our Swiss entity in every case.\n\nThanks`,
    parts: 3,
  },
  {
    name: 'three numbered issues',
    text: `Hi,\n\n1. The installer aborts on Windows Server 2022 with "missing runtime" even though it is installed.\n2. Our proxy settings are ignored by the update checker, which then times out every morning.\n3. The admin guide link in the help menu points to a page that does not exist any more.\n`,
    parts: 3,
  },
  {
    name: '"two issues" with short items',
    text: `Hi,\n\nwe have two issues:\n1. Login is very slow\n2. Export to CSV fails\n\nThanks`,
    parts: 2,
    titles: ['Login is very slow', 'Export to CSV fails'],
  },
  {
    name: '"several problems" with bullets',
    text: `Hello,\n\nwe ran into several problems after the migration:\n\n- The job scheduler no longer starts jobs that were created before the migration.\n- All user avatars are missing and show a broken image icon in the header.\n\nRegards`,
    parts: 2,
  },
  {
    name: 'count in the subject, bullets in the body',
    subject: 'Two problems with the portal',
    text: `Hi,\n\n* Password reset mails never arrive for users with a plus sign in their address.\n* The portal shows the German UI to English users after they log out and in again.\n`,
    parts: 2,
  },
  {
    name: '"two issues" in prose, "Another issue" paragraph',
    text: `Hi,\n\nwe have two issues with the current release.\n\nThe nightly synchronisation with our ERP stops after about 5000 records and reports no error at all.\n\nAnother issue: the user list cannot be sorted by last login, the column header does nothing when clicked.\n\nThanks for your help,\nPeter`,
    parts: 2,
    titles: ['The nightly synchronisation with our ERP stops after about 5000 records and…', 'The user list cannot be sorted by last login, the column header does nothing…'],
  },
  {
    name: 'prose with "Also, ... second problem"',
    text: `Hello support,\n\nSince Tuesday our agents cannot attach files larger than 2 MB to tickets, the upload just spins forever.\n\nAlso, there is a second problem: the SLA timer keeps running while a ticket is waiting for the customer.\n\nBest regards`,
    parts: 2,
  },
  {
    name: 'prose with "Another problem we noticed"',
    text: `Hi,\n\nThe dashboard shows yesterday's figures until about 10 am, the refresh seems to be delayed by hours.\n\nAnother problem we noticed is that exported charts have no legend, which makes them useless in presentations.\n\nThanks`,
    parts: 2,
  },
  {
    name: 'numbered issues, each with a nested steps list',
    text: `Hi,\n\n1. Saving a draft invoice loses the discount line when the customer has a default discount.\nTo reproduce:\n1. Open a customer with a default discount\n2. Create an invoice\n3. Save as draft\n2. The VAT report totals differ from the invoice list by a few cents for mixed-rate invoices in March.\n\nThanks`,
    parts: 2,
  },
  {
    name: 'numbered issues with indented continuation paragraphs',
    text: `Hello,\n\n1. The API returns HTTP 500 when a contact has no email address set.\n\n   This worked in 6.1 and breaks our CRM sync every night.\n\n2. Webhooks are delivered without the signature header when the payload is larger than 64 KB.\n\nRegards,\nLee`,
    parts: 2,
  },
  {
    name: '"Question 1:" / "Question 2:" labels',
    text: `Hi,\n\nQuestion 1: Can we move our license from the old server to the new one without a new activation key?\nQuestion 2: Is there a way to export all tickets of one customer including attachments as a single archive?\n\nThanks`,
    parts: 2,
  },
  {
    name: '"the first problem is" / "the second problem is"',
    text: `Hello,\n\nThe first problem is that archived projects still count against our project quota in the billing page.\n\nThe second problem is that project owners cannot transfer ownership to a colleague in another team.\n\nBest`,
    parts: 2,
  },
  {
    name: 'shared closing with environment note goes to every part',
    text: `Hi,\n\n1. Scanned documents are rotated by 90 degrees after the OCR step finishes on every page.\n2. The OCR language setting resets to English whenever the service restarts overnight.\n\nWe run version 9.1 on Ubuntu 22.04.\n\nThanks`,
    parts: 2,
  },
  {
    name: 'Fwd: of a customer mail listing issues is new content',
    subject: 'Fwd: problems',
    text: `Please see below.\n\n1. The mobile app logs users out every few minutes, even with "remember me" ticked.\n2. The web app shows the wrong time zone for appointments booked from the mobile app.\n`,
    parts: 2,
  },
  {
    name: '"(1)" style numbering',
    text: `Dear team,\n\n(1) Reports scheduled for the first day of the month run twice and send duplicate emails to managers.\n(2) The data retention job deletes attachments of tickets that are still open after 90 days.\n`,
    parts: 2,
  },
];

const NO_SPLIT: Example[] = [
  {
    name: 'steps to reproduce under a heading',
    text: `Hi,\n\nthe export crashes.\n\nSteps to reproduce:\n1. Open the report "Monthly sales" in the designer and switch to preview mode.\n2. Click the export button and choose PDF with all pages selected.\n3. Wait until the progress bar reaches 100 percent and watch the application close.\n`,
    parts: 1,
  },
  {
    name: 'imperative steps without a heading',
    text: `Hello,\n\nthe upload fails for me:\n\n1. Open the document library and navigate to the folder "Contracts 2026".\n2. Drag a PDF of about 30 MB from the desktop onto the upload area.\n3. Click "Start upload" and wait for the progress bar to finish.\n\nThen an error appears.`,
    parts: 1,
  },
  {
    name: 'list of versions',
    text: `Hi,\n\nthe sync fails on these versions:\n1. 7.4.1 on Windows Server 2019 with the default configuration and SQL Server\n2. 7.4.2 on Windows Server 2022 with the default configuration and SQL Server\n`,
    parts: 1,
  },
  {
    name: 'version list without a heading',
    text: `Hi,\n\nWe tested with\n1. v3.2.1 (build 4410) on macOS 14 Sonoma with Safari and Chrome browsers\n2. v3.2.2 (build 4431) on macOS 14 Sonoma with Safari and Chrome browsers\nand the dialog never opens.`,
    parts: 1,
  },
  {
    name: 'numbered log lines',
    text: `Hi,\n\nthe service stops every night. Log:\n1. 2026-11-02 03:00:01 ERROR Scheduler - job "cleanup" failed to acquire lock on table tasks\n2. 2026-11-02 03:00:02 ERROR Scheduler - shutting down worker pool after fatal error in job\n`,
    parts: 1,
  },
  {
    name: 'stack trace with numbered frames',
    text: `Hello,\n\nthe agent crashes with:\n\n#0  0x00007f3a2c1b in memcpy () from /lib/x86_64-linux-gnu/libc.so.6 while copying the buffer\n#1  0x000055d0e2a1 in Buffer::append (this=0x55d0f0, data=...) at buffer.cpp:88 in the worker thread\n#2  0x000055d0e3f0 in Connection::read (this=0x55d0f0) at connection.cpp:142 in the worker thread\n`,
    parts: 1,
  },
  {
    name: 'Java stack frames numbered "1." "2."',
    text: `Hi,\n\nwe get this exception:\n1. at com.example.billing.InvoiceService.calculateTotals(InvoiceService.java:214) in the batch\n2. at com.example.billing.InvoiceJob.run(InvoiceJob.java:57) when the nightly batch starts\n`,
    parts: 1,
  },
  {
    name: 'Python traceback frames',
    text: `Hi,\n\nthe import script fails:\n\n1. File "/opt/app/importer.py", line 88, in load_rows and the rows are never committed\n2. File "/opt/app/db.py", line 12, in execute and the connection is closed afterwards\n`,
    parts: 1,
  },
  {
    name: 'items under an "Environment" heading',
    text: `Hi,\n\nthe printer integration is broken.\n\nEnvironment:\n1. Our print server runs Windows Server 2016 with the latest updates installed last week.\n2. The label printers are Zebra ZT410 models connected over the local network only.\n`,
    parts: 1,
  },
  {
    name: 'items under a "Details" heading',
    text: `Hello,\n\nour nightly import stopped working.\n\nDetails:\n1. It started after the database server was moved into the new data centre on Friday.\n2. The import log says the connection was refused, although the firewall rules were copied.\n`,
    parts: 1,
  },
  {
    name: 'what I tried',
    text: `Hi,\n\nthe VPN client does not connect. What I tried:\n1. I reinstalled the client from the portal and rebooted the laptop twice afterwards.\n2. I switched from the office network to my phone hotspot to rule out the firewall.\n`,
    parts: 1,
  },
  {
    name: 'bullets without a count are symptoms of one issue',
    text: `Hello,\n\nsince the update the editor misbehaves:\n\n- The cursor jumps to the start of the line whenever I type a bracket in a formula.\n- Undo removes the whole paragraph instead of the last word I typed in the editor.\n`,
    parts: 1,
  },
  {
    name: 'one-liner items are not issues',
    text: `Hi,\n\nplease add these users:\n1. Anna Meier\n2. Tom Berger\n3. Lea Vogt\n`,
    parts: 1,
  },
  {
    name: 'short numbered list without a count',
    text: `Hi,\n\nour setup:\n1. Two web servers\n2. One database\n`,
    parts: 1,
  },
  {
    name: 'singular announcement: "an issue" then facets',
    text: `Hi,\n\nwe have an issue with the backup module:\n\n1. The backup starts on time every night but stops at the step where it copies attachments.\n2. The backup log then says the disk is full, although the disk has more than 2 TB free.\n`,
    parts: 1,
  },
  {
    name: 'reply: "Re:" subject',
    subject: 'Re: [Case #100042] Export fails',
    text: `Hi,\n\n1. The export still fails with the same error after installing the patch you sent yesterday.\n2. The new log file shows an access denied error on the temp folder, see the attachment please.\n`,
    parts: 1,
  },
  {
    name: 'reply: German "AW:" subject',
    subject: 'AW: Ihre Anfrage',
    text: `Hallo,\n\n1. Das Problem tritt weiterhin bei allen Benutzern in der Buchhaltung auf, auch nach dem Neustart.\n2. Zusätzlich ist der Export nach Excel seit gestern deutlich langsamer als vorher gewesen.\n`,
    parts: 1,
  },
  {
    name: 'reply: Scandinavian "SV:" subject',
    subject: 'SV: Problem med inloggning',
    text: `Hej,\n\n1. Inloggningen fungerar fortfarande inte för användare som har ett bindestreck i namnet.\n2. Lösenordsåterställningen skickar fortfarande inget mejl till användarna i gruppen.\n`,
    parts: 1,
  },
  {
    name: 'reply detected from an attribution line without "Re:"',
    subject: 'Export',
    text: `Here are the answers:\n\n1. Yes, the export fails for every report, not only for the monthly sales report we mentioned.\n2. No, we did not change anything in the configuration since the last update of the server.\n\nOn Mon, 2 Nov 2026 at 10:00, Support <support@example.test> wrote:\n> Could you answer two questions?\n`,
    parts: 1,
  },
  {
    name: 'a single issue in prose',
    text: `Hi,\n\nsince this morning no user can log in to the portal. The login page says "invalid token" after entering the password.\n\nThanks`,
    parts: 1,
  },
  {
    name: '"another issue" referring to an old case does not split a single paragraph',
    text: `Hi,\n\nthe export fails again with error E-4021, this might be related to another issue we had in March.\n\nThanks`,
    parts: 1,
  },
  {
    name: '"two issues" but only one described',
    text: `Hi,\n\nI think these are two issues but I am not sure.\n\nThe scheduler does not start jobs on Sundays, and the log shows nothing about it at all.\n\nThanks`,
    parts: 1,
  },
  {
    name: 'numbers inside sentences are not items',
    text: `Hello,\n\nWe upgraded from 5.1 to 5.2 last week. Since then 2 of our 3 servers refuse connections on port 8443.\n\nThanks`,
    parts: 1,
  },
  {
    name: '"First we ..." narration is not an enumeration',
    text: `Hi,\n\nFirst we installed the update on the test server and everything looked fine for a day.\nThen we installed it in production and the reports stopped rendering charts entirely.\n`,
    parts: 1,
  },
  {
    name: 'expected/actual numbered block',
    text: `Hi,\n\nthe totals are wrong.\n\n1. Expected result: the invoice total equals the sum of all lines including the shipping costs.\n2. Actual result: the invoice total leaves out the shipping costs on every invoice since Monday.\n`,
    parts: 1,
  },
  {
    name: 'numbered list of file paths',
    text: `Hi,\n\nthese files are missing after the update:\n1. /opt/app/conf/server.xml /opt/app/conf/context.xml /opt/app/conf/web.xml\n2. /opt/app/lib/ext/driver.jar /opt/app/lib/ext/pool.jar /opt/app/lib/ext/cache.jar\n`,
    parts: 1,
  },
  {
    name: 'key: value settings dump',
    text: `Hi,\n\nour configuration:\n1. max_connections = 500 and shared_buffers = 4GB and work_mem = 64MB on the main node\n2. max_connections = 200 and shared_buffers = 2GB and work_mem = 32MB on the replica node\n`,
    parts: 1,
  },
  {
    name: 'steps with "Then" and ordinals "First," "Second," as instructions',
    text: `Hi,\n\nthis is how I get the crash:\n\nFirst, open the settings dialog and switch to the tab called "Advanced options".\n\nSecond, enable the proxy option and enter the address of our corporate proxy server.\n`,
    parts: 1,
  },
  {
    name: 'empty text',
    text: ``,
    parts: 1,
  },
  {
    name: 'huge text is never split',
    text: `Hi,\n\n1. The service crashes with an out of memory error after about two hours of uptime.\n2. The admin console shows no data for the cluster overview page after a restart of the node.\n\n${'log line with some words in it\n'.repeat(8000)}`,
    parts: 1,
  },
];

describe('splitIssues: splits', () => {
  for (const ex of SPLIT) {
    it(ex.name, () => {
      const parts = splitIssues(ex.subject ?? 'Problems', ex.text);
      expect(parts).toHaveLength(ex.parts);
      if (ex.titles) expect(parts.map((p) => p.title)).toEqual(ex.titles);
      for (const p of parts) {
        expect(p.title.length).toBeGreaterThan(0);
        expect(p.title.length).toBeLessThanOrEqual(81);
      }
    });
  }
});

describe('splitIssues: does not split', () => {
  for (const ex of NO_SPLIT) {
    it(ex.name, () => {
      const subject = ex.subject ?? 'Problem';
      const parts = splitIssues(subject, ex.text);
      expect(parts).toEqual([{ title: subject, text: ex.text }]);
    });
  }
});

describe('splitIssues: part texts', () => {
  it('each part gets the shared introduction, its own item and the shared closing', () => {
    const parts = splitIssues('Problems', SPLIT[0]!.text);
    expect(parts[0]!.text).toBe(
      'Hello,\n\nwe have two problems since the upgrade to 7.4:\n\n1. The PDF export of monthly reports fails with error E-4021 for every report larger than 20 pages.\n\nThanks,\nAnna',
    );
    expect(parts[1]!.text).toContain('2. Users in the Sales group');
    expect(parts[1]!.text).not.toContain('PDF export');
    expect(parts[1]!.text.startsWith('Hello,\n\nwe have two problems')).toBe(true);
    expect(parts[1]!.text.endsWith('Thanks,\nAnna')).toBe(true);
  });

  it('a nested steps list stays inside its issue', () => {
    const ex = SPLIT.find((e) => e.name.startsWith('numbered issues, each with a nested'))!;
    const parts = splitIssues('Problems', ex.text);
    expect(parts[0]!.text).toContain('3. Save as draft');
    expect(parts[1]!.text).not.toContain('Save as draft');
    expect(parts[1]!.text).toContain('VAT report');
  });

  it('indented continuation paragraphs belong to the last item, the environment note to all', () => {
    const cont = splitIssues('Problems', SPLIT.find((e) => e.name.startsWith('numbered issues with indented'))!.text);
    expect(cont[0]!.text).toContain('This worked in 6.1');
    expect(cont[1]!.text).not.toContain('This worked in 6.1');
    const env = splitIssues('Problems', SPLIT.find((e) => e.name.startsWith('shared closing'))!.text);
    expect(env[0]!.text).toContain('We run version 9.1');
    expect(env[1]!.text).toContain('We run version 9.1');
  });

  it('prose split keeps the greeting and the sign-off on both parts', () => {
    const parts = splitIssues('Problems', SPLIT.find((e) => e.name.startsWith('"two issues" in prose'))!.text);
    for (const p of parts) {
      expect(p.text.startsWith('Hi,')).toBe(true);
      expect(p.text.endsWith('Peter')).toBe(true);
    }
    expect(parts[0]!.text).toContain('nightly synchronisation');
    expect(parts[0]!.text).not.toContain('Another issue');
    expect(parts[1]!.text).toContain('Another issue');
  });

  it('runs in linear time on a pathological enumeration', () => {
    // Thousands of two-item lists: each candidate list costs a pass, so only a few are examined.
    const text = 'two issues:\n' + '1. a b c d\n2. e f g h\n'.repeat(3000);
    const parts = splitIssues('x', text);
    expect(parts.length).toBeGreaterThanOrEqual(1);
  });
});

describe('isReply', () => {
  it('knows reply prefixes in several languages and not forwards', () => {
    for (const s of ['Re: x', 'RE: x', 'AW: x', 'SV: x', 'VS: x', 'Antw: x', 'Odp: x', 'R: x', 'RIF: x', 'Re[2]: x', '回复: x']) expect(isReply(s, '')).toBe(true);
    for (const s of ['Fwd: x', 'FW: x', 'WG: x', 'Request', 'Reporting problem', 'Release 5 broken']) expect(isReply(s, '')).toBe(false);
  });
});

it('has at least 40 split / do-not-split examples', () => {
  expect(SPLIT.length + NO_SPLIT.length).toBeGreaterThanOrEqual(40);
});

// Judging segments (issue 8): hand-written requests in four languages, see test/fixtures/split-examples.ts.
function checkExample(ex: SegmentExample): void {
  const subject = ex.subject ?? 'Problem';
  const parts = splitIssues(subject, ex.text);
  expect(parts, explainSplit(subject, ex.text).join('; ')).toHaveLength(ex.parts);
  if (ex.parts === 1) {
    expect(parts).toEqual([{ title: subject, text: ex.text }]);
    return;
  }
  parts.forEach((p, k) => {
    expect(p.title.length).toBeGreaterThan(0);
    expect(p.title.length).toBeLessThanOrEqual(81);
    // Each part holds its own report and none of the others'.
    ex.own?.forEach((phrase, j) => (j === k ? expect(p.text).toContain(phrase) : expect(p.text).not.toContain(phrase)));
  });
}

describe('judging segments: must split', () => {
  it.each(MUST_SPLIT.map((ex) => [`[${ex.lang}] ${ex.name}`, ex] as const))('%s', (_n, ex) => checkExample(ex));
});

describe('judging segments: must not split', () => {
  it.each(MUST_NOT_SPLIT.map((ex) => [`[${ex.lang}] ${ex.name}`, ex] as const))('%s', (_n, ex) => checkExample(ex));
});

describe('judging segments: second batch (written after tuning on the first)', () => {
  it.each(SECOND_BATCH.map((ex) => [`[${ex.lang}] ${ex.name}`, ex] as const))('%s', (_n, ex) => checkExample(ex));
});

describe('judging segments: third batch (written after the second was pinned)', () => {
  it.each(THIRD_BATCH.map((ex) => [`[${ex.lang}] ${ex.name}`, ex] as const))('%s', (_n, ex) => checkExample(ex));
});

describe('judging segments: the examples', () => {
  it('cover four languages, half splitting and half not', () => {
    const all = [...MUST_SPLIT, ...MUST_NOT_SPLIT, ...SECOND_BATCH, ...THIRD_BATCH];
    expect(all.length).toBeGreaterThanOrEqual(30);
    expect(new Set(all.map((e) => e.lang))).toEqual(new Set(['en', 'de', 'fr', 'es']));
    expect(MUST_SPLIT.length).toBe(MUST_NOT_SPLIT.length);
    for (const batch of [SECOND_BATCH, THIRD_BATCH]) expect(batch.filter((e) => e.parts > 1).length * 2).toBe(batch.length);
    for (const lang of ['en', 'de', 'fr', 'es']) {
      expect(all.some((e) => e.lang === lang && e.parts > 1)).toBe(true);
      expect(all.some((e) => e.lang === lang && e.parts === 1)).toBe(true);
    }
  });
});

describe('judging segments: why', () => {
  it('the environment list is turned down and the problems list after it splits', () => {
    const ex = MUST_SPLIT.find((e) => e.name.startsWith('numbered problems list after'))!;
    expect(explainSplit('x', ex.text)).toEqual(['ordered at line 4: detail heading']);
    const parts = splitIssues('x', ex.text);
    // The environment is shared introduction: every case keeps it.
    for (const p of parts) expect(p.text).toContain('PostgreSQL 15 on Debian 12');
    expect(parts.map((p) => p.title)).toEqual([
      'The dashboard takes more than a minute to load for agents with many open cases',
      'Attachments larger than 10 MB are rejected with error 413 even though the limit…',
    ]);
  });

  it('names the reason a list stays one case', () => {
    const reason = (name: string): string[] => {
      const ex = [...MUST_NOT_SPLIT, ...SECOND_BATCH].find((e) => e.name.startsWith(name))!;
      return explainSplit(ex.subject ?? 'x', ex.text);
    };
    expect(reason('a list of questions about one feature')).toEqual(['ordered at line 5: questions about one thing']);
    expect(reason('symptoms of one problem under an intro')).toEqual(['bullet at line 5: the same problem in several items']);
    expect(reason('German: bullets that are symptoms')).toEqual(['bullet at line 5: symptoms of the problem above']);
    expect(reason('the second item is a consequence')).toEqual(['ordered at line 3: an item carries on from the one before']);
    expect(reason('the same failure on two versions')).toEqual(['bullet at line 5: the same problem in several items']);
    expect(reason('German: numbered steps')).toEqual(['ordered at line 6: detail heading']);
    expect(reason('French: expected/obtained')).toEqual(['bullet at line 5: steps']);
    expect(reason('keyword bullets')).toEqual(['bullet at line 5: not enough items report a problem']);
    expect(reason('bullets with one-line facets')).toEqual(['bullet at line 5: things counted, not problems']);
    expect(reason('"a few things about our setup"')).toEqual(['ordered at line 5: things counted, not problems']);
    expect(reason('a bug-report template')).toEqual(['heading at line 3: a report template']);
  });

  it('labelled, ordinal and prose titles drop the label and the cue', () => {
    const titles = (name: string): string[] => splitIssues('x', MUST_SPLIT.find((e) => e.name.startsWith(name))!.text).map((p) => p.title);
    expect(titles('"Problem A -"')).toEqual(['The weekly digest mail is sent at 3 am instead of 8 am local time', 'Agents cannot reassign a case to a colleague in another team, the button is…']);
    expect(titles('prose ordinals in one paragraph')).toEqual(['The calendar export drops all-day events from the file it produces', 'The mobile app logs me out whenever I switch to another app and back']);
    expect(titles('German: "Erstens:"')).toEqual(['Die Suche findet keine Kunden mehr, wenn man nach der Postleitzahl sucht', 'Beim Speichern eines Angebots erscheint die Meldung "Zugriff verweigert"…']);
    expect(titles('Spanish: "Otro problema:"')[1]).toBe('Los informes mensuales muestran cifras incorrectas para los casos reabiertos');
  });
});

describe('judging segments: .eml fixtures through the real parser and understanding step', () => {
  const understand = (name: string) => understandParsed(
    parseMessageSync(readFileSync(new URL(`../fixtures/mail/split/${name}`, import.meta.url))), DEFAULT_INSPECT_OPTIONS.understanding);
  it.each([
    ['prose-ordinals-unrelated.eml', 2],
    ['bullets-we-are-seeing-the-following.eml', 2],
    ['labelled-problem-a-b.eml', 2],
    ['environment-then-problems.eml', 2],
    ['german-zwei-probleme.eml', 2],
    ['french-autre-probleme.eml', 2],
    ['no-split-questions-one-feature.eml', 1],
    ['no-split-spanish-symptoms.eml', 1],
    ['no-split-german-steps.eml', 1],
  ] as const)('%s → %i case(s)', (name, n) => {
    const u = understand(name);
    expect(u.errors).toEqual([]);
    expect(u.issues).toHaveLength(n);
    if (n === 1) expect(u.issues[0]!.severity).toEqual(u.severity);
  });

  it('each split case gets its own severity', () => {
    const u = understand('bullets-we-are-seeing-the-following.eml');
    const [a, b] = u.issues.map((i) => i.severity.suggested);
    // Production down outranks a blurred logo.
    expect(a).toBeLessThan(b!);
  });
});

describe('judging segments: cost', () => {
  it('stays fast on 32 KB of mixed markers of every style', () => {
    const unit = '- a b c fails\n1. d e f error\na) g h crashes\ni. slow j k\nProblem A: x y z broken\nFirst, p q r lost.\n\n';
    const text = 'we have several problems:\n\n' + unit.repeat(Math.floor(31_000 / unit.length));
    const t0 = performance.now();
    splitIssues('x', text);
    expect(performance.now() - t0).toBeLessThan(200);
  });
});
