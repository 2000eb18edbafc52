// Splitting one new request into several issues (spec section 4). Pure, line-based and linear.
// Splits on a top-level enumeration ("1." "2)" "Issue 1:" "Problem 2 -" "First issue" "Second,")
// whose items each carry a real description, or, when the writer says so ("two issues",
// "another problem"), on bullets or on prose paragraphs introduced by "Another issue ...".
// Never splits replies, steps, versions, logs, stack traces or lists under such a heading.

export interface IssuePart {
  title: string;
  /** Shared introduction plus this issue's own text. */
  text: string;
}

/** Beyond this the request is a log dump, not a list of issues; it stays one case. */
const MAX_SPLIT_CHARS = 32 * 1024;
/** Enumerations looked at; each costs a pass over the text, so the work stays linear. */
const MAX_CANDIDATES = 8;
const MAX_TITLE_CHARS = 80;
/** A "real description" (not a one-liner): at least this many words in the item. */
const MIN_ITEM_WORDS = 8;
/** When the writer says how many issues there are, shorter items are still issues. */
const MIN_ITEM_WORDS_EXPLICIT = 3;

/** Re:, AW:, SV:, VS:, Antw:, Odp:, RIF:, R:, Ynt:, 回复: — the message answers something. */
const REPLY_SUBJECT = /^\s*(?:re|aw|sv|vs|antw(?:ort)?|odp|ynt|rif|ris|r|réf|ref|回复|答复|返信)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]/i;
const FORWARD_SUBJECT = /^\s*(?:fwd?|fw|wg|tr|enc|rv|vb|i)\s*:/i;
/** An attribution line with quoted history below it: the text is a reply even without "Re:". */
const ATTRIBUTION = /^\s*(?:on .{1,200} wrote:|-{2,}\s*original message\s*-{2,}|am .{1,200} schrieb .{0,200}:|le .{1,200} a écrit\s*:)\s*$/i;

const COUNT_PHRASE = /\b(?:two|three|four|five|six|2|3|4|5|6|several|multiple|a few|a couple of|couple of|a number of|separate|distinct|unrelated)\s+(?:(?:\w+|[\w-]+)\s+)?(?:issues|problems|questions|bugs|requests|topics|matters)\b/i;
const ANOTHER_PHRASE = /\b(?:another|a second|the second|second|the other|one more|a further|a separate|an additional|a different)\s+(?:(?:\w+)\s+)?(?:issue|problem|question|bug|request|topic|matter)\b/i;
const SINGULAR_INTRO = /\b(?:an|one|this|a|the following|the same)\s+(?:(?:\w+)\s+)?(?:issue|problem|bug|error|question)\b(?![s-])/i;

/** Headings under which enumerations are details of one issue, not separate issues. */
const DETAIL_HEADING = /\b(?:steps?|reproduce|repro|str|environment|env|details?|setup|set-up|configuration|config|versions?|logs?|stack ?traces?|traces?|traceback|backtrace|output|what (?:i|we) (?:did|tried|have tried)|(?:i|we) (?:did|tried) the following|following steps|expected|actual|system info(?:rmation)?|specs?|specifications?|requirements|attempts?|workarounds?|symptoms?|error messages?|installed|components?|modules?|packages?|plugins?|affected|servers?|hosts?|machines?|users?|files?|attachments?|screenshots?|procedure|instructions?|how to)\b/i;

const IMPERATIVES = new Set([
  'open', 'click', 'go', 'navigate', 'enter', 'select', 'run', 'type', 'press', 'log', 'login', 'start', 'install',
  'create', 'add', 'set', 'configure', 'restart', 'wait', 'upload', 'download', 'save', 'close', 'launch', 'execute',
  'choose', 'fill', 'submit', 'copy', 'paste', 'observe', 'check', 'try', 'delete', 'remove', 'edit', 'update', 'change',
  'switch', 'scroll', 'tap', 'sign', 'import', 'export', 'drag', 'right-click', 'double-click', 'reboot', 'stop', 'call',
  'send', 'make', 'use', 'put', 'insert', 'load', 'reload', 'refresh', 'hit', 'visit', 'access', 'connect', 'disconnect',
  'then', 'now', 'next', 'finally', 'expected', 'actual', 'result', 'see', 'note', 'verify', 'confirm', 'apply', 'enable',
  'disable', 'mount', 'unmount', 'build', 'compile', 'deploy', 'invoke', 'call', 'query', 'search', 'find', 'attach',
  'browse', 'print', 'generate', 'schedule', 'assign', 'login:', 'start:', 'upgrade', 'downgrade', 'uninstall', 'boot',
]);

/** Lines that are data, not prose: versions, log lines, stack frames, paths, key=value dumps. */
const DATA_LINE = /^(?:at\s+[\w$.<>]+[.(]|#?\d+\s+0x[0-9a-f]+|0x[0-9a-f]+|\[?\d{4}-\d\d-\d\d|\[?\d\d:\d\d:\d\d|\[?(?:ERROR|WARN(?:ING)?|INFO|DEBUG|TRACE|FATAL|SEVERE|CRITICAL|NOTICE)\b|File "|Traceback|Caused by:|[\w$]+(?:\.[\w$<>]+){2,}\s*\(|[\w$]+(?:::[\w$]+)+|v?\d+(?:\.\d+)+\b|[A-Za-z]:\\|\/[\w.-]+\/|[\w.-]+\s*[=:]\s*\S+$|[\w.]+\([\w.]*:\d+\))/;

const ORDINALS: Record<string, number> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9, tenth: 10,
};

type MarkerKind = 'numeric' | 'labelled' | 'ordinal' | 'bullet';

interface Marker {
  kind: MarkerKind;
  n: number;
  indent: number;
  /** The item's own first line, enumerator removed. */
  rest: string;
  /** For "Finally," / "Lastly,": continues an ordinal run whatever its length. */
  last?: boolean;
}

interface Candidate {
  kind: MarkerKind;
  starts: number[];
  indent: number;
  rests: string[];
}

const NUMERIC = /^([ \t]{0,40})(?:\(?(\d{1,2})[.)](?![\d.])|#(\d{1,2})[.:)]?)[ \t]{1,8}(\S.*)$/;
const LABELLED = /^([ \t]{0,40})(?:the[ \t]{1,8})?(?:issue|problem|question|request|bug|topic|item|point|error|matter|ticket)[ \t]{0,3}(?:#|no\.?|nr\.?)?[ \t]{0,3}(\d{1,2})[ \t]{0,3}(?:[:.)\-–—]|$)[ \t]{0,3}(.*)$/i;
const ORDINAL = /^([ \t]{0,40})(?:the[ \t]{1,8})?(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)(?:ly)?(?:[ \t]{1,8}(?:issue|problem|question|thing|point|topic|request|bug|one|matter))?(?:[ \t]{1,8}(?:is|was))?[ \t]{0,3}([:,.\-–—])?[ \t]{0,3}(.*)$/i;
const FINALLY = /^([ \t]{0,40})(?:finally|lastly|last but not least|and finally|last)(?:[ \t]{1,8}(?:issue|problem|question|thing|point))?[ \t]{0,3}([:,\-–—])[ \t]{0,3}(.*)$/i;
const BULLET = /^([ \t]{0,40})[-*•–][ \t]{1,8}(\S.*)$/;

function indentOf(s: string): number {
  let n = 0;
  for (const ch of s) n += ch === '\t' ? 4 : 1;
  return n;
}

function markerOf(line: string): Marker | null {
  if (line.length > 4000) return null;
  let m = LABELLED.exec(line);
  if (m) return { kind: 'labelled', n: Number(m[2]), indent: indentOf(m[1]!), rest: m[3]!.trim() };
  m = NUMERIC.exec(line);
  if (m) return { kind: 'numeric', n: Number(m[2] ?? m[3]), indent: indentOf(m[1]!), rest: m[4]!.trim() };
  m = ORDINAL.exec(line);
  if (m) {
    const hasNoun = /^(?:[ \t]{0,3})(?:the[ \t]{1,8})?\w+(?:ly)?[ \t]{1,8}(?:issue|problem|question|thing|point|topic|request|bug|one|matter)\b/i.test(line);
    // "First we installed ..." is a sentence; "First, ..." / "First issue: ..." is a marker.
    if (hasNoun || m[3]) return { kind: 'ordinal', n: ORDINALS[m[2]!.toLowerCase()]!, indent: indentOf(m[1]!), rest: m[4]!.trim() };
  }
  m = FINALLY.exec(line);
  if (m) return { kind: 'ordinal', n: 0, indent: indentOf(m[1]!), rest: m[3]!.trim(), last: true };
  m = BULLET.exec(line);
  if (m) return { kind: 'bullet', n: 0, indent: indentOf(m[1]!), rest: m[2]!.trim() };
  return null;
}

function words(s: string): number {
  let n = 0;
  for (const _ of s.matchAll(/[\p{L}][\p{L}'’-]*/gu)) n++;
  return n;
}

function isBlank(s: string | undefined): boolean {
  return s === undefined || s.trim() === '';
}

/** Runs of labelled or ordinal markers numbered 1, 2, 3 ... */
function sequentialRuns(markers: Array<[number, Marker]>, kind: 'labelled' | 'ordinal'): Candidate[] {
  const out: Candidate[] = [];
  let cur: Candidate | null = null;
  let expect = 1;
  for (const [i, m] of markers) {
    if (m.kind !== kind) continue;
    if (m.last && cur && cur.starts.length >= 2) {
      cur.starts.push(i); cur.rests.push(m.rest); expect = Number.MAX_SAFE_INTEGER;
    } else if (m.n === expect && cur) {
      cur.starts.push(i); cur.rests.push(m.rest); expect++;
    } else if (m.n === 1) {
      cur = { kind, starts: [i], indent: m.indent, rests: [m.rest] };
      out.push(cur);
      expect = 2;
    }
  }
  return out.filter((c) => c.starts.length >= 2);
}

/** Numeric lists, nesting by indentation and by restarts after a "Steps:"-like heading line. */
function numericLists(lines: string[], markers: Array<[number, Marker]>): Candidate[] {
  const top: Candidate[] = [];
  const stack: Array<{ c: Candidate; next: number }> = [];
  for (const [i, m] of markers) {
    if (m.kind !== 'numeric') continue;
    let placed = false;
    while (stack.length > 0 && !placed) {
      const t = stack[stack.length - 1]!;
      if (m.indent > t.c.indent + 1) {
        if (m.n === 1) stack.push({ c: { kind: 'numeric', starts: [i], indent: m.indent, rests: [m.rest] }, next: 2 });
        placed = true;
      } else if (m.n === t.next && m.indent >= t.c.indent - 1) {
        t.c.starts.push(i); t.c.rests.push(m.rest); t.next++;
        placed = true;
      } else if (m.n === 1 && Math.abs(m.indent - t.c.indent) <= 1) {
        let prev = i - 1;
        while (prev >= 0 && isBlank(lines[prev])) prev--;
        if (prev >= 0 && /:\s*$/.test(lines[prev]!) && prev > t.c.starts[t.c.starts.length - 1]!) {
          stack.push({ c: { kind: 'numeric', starts: [i], indent: m.indent, rests: [m.rest] }, next: 2 });
        } else {
          stack.length = 0;
          continue;
        }
        placed = true;
      } else {
        stack.pop();
      }
    }
    if (!placed && stack.length === 0 && m.n === 1) {
      const c: Candidate = { kind: 'numeric', starts: [i], indent: m.indent, rests: [m.rest] };
      top.push(c);
      stack.push({ c, next: 2 });
    }
  }
  return top.filter((c) => c.starts.length >= 2);
}

/** Bullet runs at one indent (used only when the writer counted several issues). A run ends at
 * an unindented, non-bullet paragraph. */
function bulletRuns(markers: Array<[number, Marker]>, lines: string[]): Candidate[] {
  const out: Candidate[] = [];
  let cur: Candidate | null = null;
  let lastLine = -1;
  for (const [i, m] of markers) {
    if (m.kind !== 'bullet') continue;
    let interrupted = false;
    if (cur) {
      for (let j = lastLine + 1; j < i && !interrupted; j++) {
        const l = lines[j]!;
        interrupted = !isBlank(l) && isBlank(lines[j - 1]) && indentOf(/^[ \t]{0,3}/.exec(l)![0]) <= cur.indent;
      }
    }
    if (cur && m.indent === cur.indent && !interrupted) {
      cur.starts.push(i); cur.rests.push(m.rest);
    } else if (!cur || m.indent <= cur.indent || interrupted) {
      cur = { kind: 'bullet', starts: [i], indent: m.indent, rests: [m.rest] };
      out.push(cur);
    }
    lastLine = i;
  }
  return out.filter((c) => c.starts.length >= 2);
}

const CLOSING = /^\s*(?:thanks|thank you|thx|many thanks|regards|kind regards|best regards|best|cheers|br|mfg|viele grüße|cordialement|saludos|greetings|sincerely|yours|please (?:advise|help|let us know|let me know|get back)|let (?:me|us) know|looking forward|we (?:appreciate|look forward)|any help|hope to hear|--\s*$|sent from)/i;

interface Layout {
  intro: string;
  items: string[];
  closing: string;
}

/** Cuts the text at the item starts; after the last item's first paragraph, unindented
 * paragraphs are shared closing (environment notes, thanks, signature belong to every part). */
function layout(lines: string[], c: Candidate): Layout {
  const intro = lines.slice(0, c.starts[0]).join('\n').trim();
  const items: string[] = [];
  for (let k = 0; k < c.starts.length - 1; k++) items.push(lines.slice(c.starts[k], c.starts[k + 1]).join('\n').trim());
  const lastStart = c.starts[c.starts.length - 1]!;
  let end = lastStart + 1;
  while (end < lines.length) {
    if (isBlank(lines[end])) {
      let next = end;
      while (next < lines.length && isBlank(lines[next])) next++;
      if (next >= lines.length) { end = next; break; }
      const nextLine = lines[next]!;
      // Deeper-indented paragraphs (and nested lists) continue the item; others are shared.
      if (indentOf(/^[ \t]{0,3}/.exec(nextLine)![0]) > c.indent && !CLOSING.test(nextLine)) { end = next + 1; continue; }
      break;
    }
    if (CLOSING.test(lines[end]!)) break;
    end++;
  }
  items.push(lines.slice(lastStart, end).join('\n').trim());
  return { intro, items, closing: lines.slice(end).join('\n').trim() };
}

function lastNonBlank(text: string): string {
  const ls = text.split('\n').filter((l) => !isBlank(l));
  return ls[ls.length - 1]?.trim() ?? '';
}

/** "Steps to reproduce:", "Here are the steps:", "Our environment:", "I tried the following:". */
function isHeading(fullLine: string): boolean {
  // Only the last sentence heads the list: "It does not connect. What I tried:".
  const line = fullLine.split(/[.!?]\s+/).pop() ?? '';
  if (line === '' || /\b(?:issues|problems|questions|bugs)\b/i.test(line)) return false;
  const lead = line.split(/\s+/).slice(0, 5).join(' ');
  return DETAIL_HEADING.test(lead) && (/:\s*$/.test(line) || words(line) <= 6);
}

function itemBody(item: string): string {
  return item.replace(/^[^\n]*?(?:\d{1,2}[.):]|[-*•–]|first|second|third|fourth|fifth|finally|lastly)[ \t]{0,3}/i, '');
}

function isDataItem(rest: string, item: string): boolean {
  const first = rest.trim();
  if (DATA_LINE.test(first)) return true;
  // Mostly non-words (paths, hashes, numbers): not a description.
  const tokens = item.split(/\s+/).filter((t) => t !== '');
  return tokens.length > 0 && words(item) / tokens.length < 0.5;
}

/** Words that describe a fault: an item saying one is an issue, even if it starts like a step
 * ("Export to PDF fails ...", "Login takes a minute ..."). */
const PROBLEM_WORDS = /\b(?:fails?|failed|failing|failure|errors?|doesn't|does not|don't|do not|cannot|can't|couldn't|unable|crash(?:es|ed)?|broken|slow|wrong|missing|not working|issue|problem|bug|hangs?|freez(?:es|ing)|times? out|timeout|incorrect|instead|stopped|never|lost|disappear(?:s|ed)?|takes? (?:about|more|over|up|several|\d)|shows? (?:no|an?|the wrong)|returns? (?:no|an?|the wrong|empty))\b/i;

function isStepsList(c: Candidate, items: string[]): boolean {
  if (c.kind === 'labelled') return false;
  let imperative = 0;
  c.rests.forEach((rest, k) => {
    const first = rest.trim().split(/[\s,]+/)[0]?.toLowerCase().replace(/[^a-z:-]/g, '') ?? '';
    if (IMPERATIVES.has(first) && !PROBLEM_WORDS.test(items[k] ?? '')) imperative++;
  });
  return imperative * 2 >= c.rests.length;
}

/** Why this candidate is not a list of issues, or null when it is one. */
function rejection(c: Candidate, l: Layout, explicit: boolean): string | null {
  const heading = lastNonBlank(l.intro);
  if (isHeading(heading)) return 'detail heading';
  if (!explicit && c.kind !== 'labelled' && SINGULAR_INTRO.test(lastParagraph(l.intro)) && !/\b(?:issues|problems|questions|bugs)\b/i.test(lastParagraph(l.intro))) return 'one issue announced';
  if (isStepsList(c, l.items)) return 'steps';
  const min = explicit || c.kind === 'labelled' ? MIN_ITEM_WORDS_EXPLICIT : MIN_ITEM_WORDS;
  for (let k = 0; k < l.items.length; k++) {
    const item = l.items[k]!;
    if (isDataItem(c.rests[k]!, itemBody(item))) return 'data';
    if (words(itemBody(item)) < min) return 'one-liner';
  }
  return null;
}

function lastParagraph(text: string): string {
  const paras = text.split(/\n[ \t]{0,3}\n/).filter((p) => p.trim() !== '');
  return paras[paras.length - 1] ?? '';
}

function titleOf(rest: string, item: string, kind: MarkerKind): string {
  let t = rest;
  if (t === '' || (kind === 'labelled' && words(t) === 0)) {
    t = item.split('\n').slice(1).find((l) => !isBlank(l))?.trim() ?? '';
  }
  t = t.replace(/^(?:the[ \t]{1,8})?(?:issue|problem|question|thing|point)[ \t]{1,8}(?:is|was)[ \t]{1,8}(?:that[ \t]{1,8})?/i, '').replace(/^(?:that|is that)[ \t]{1,8}/i, '');
  const sentence = /^(.*?[.!?])(?:\s|$)/.exec(t);
  if (sentence && sentence[1]!.length >= 12) t = sentence[1]!;
  t = t.replace(/[\s.:;,!-]+$/, '').trim();
  if (t.length > MAX_TITLE_CHARS) {
    const cut = t.slice(0, MAX_TITLE_CHARS);
    const space = cut.lastIndexOf(' ');
    t = `${(space > 40 ? cut.slice(0, space) : cut).replace(/[\s.,;:-]+$/, '')}…`;
  }
  return t.charAt(0).toUpperCase() + t.slice(1);
}

function compose(parts: Array<string | undefined>): string {
  return parts.map((p) => (p ?? '').trim()).filter((p) => p !== '').join('\n\n');
}

const INTRODUCER = /^\s*(?:(?:also|additionally|and|besides|furthermore|moreover|in addition|plus|apart from that|secondly|next)[,:]?\s+)?(?:(?:there is|there's|we have|we've got|i have|i've got|we also have|i also have|we see|we noticed|there is also)\s+)?(?:another|a second|the second|the other|one more|a further|a separate|an additional|also an?|a different)\s+(?:\w+\s+)?(?:issue|problem|question|bug|thing|error|request|topic|matter)\b/i;
const ALSO_INTRODUCER = /^\s*(?:also|additionally|in addition|furthermore|moreover|secondly|apart from that)[,:]?\s+.{0,80}?\b(?:second|another|other|separate|unrelated|different)\s+(?:\w+\s+)?(?:issue|problem|question|bug|matter)\b/i;
const GREETING = /^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|hallo|guten tag|bonjour|hola|ciao|greetings|to whom it may concern)\b[^\n]{0,60}$/i;

/** Prose with "Another issue ..." paragraphs, when the writer announced several issues. */
function proseSplit(subject: string, text: string, minWords: number): IssuePart[] | null {
  const paras = text.split(/\n[ \t]{0,3}\n/).map((p) => p.trim()).filter((p) => p !== '');
  const intros: number[] = [];
  paras.forEach((p, i) => { if (i > 0 && (INTRODUCER.test(p) || ALSO_INTRODUCER.test(p))) intros.push(i); });
  if (intros.length === 0) return null;
  let start = 0;
  while (start < paras.length && (GREETING.test(paras[start]!) || (COUNT_PHRASE.test(paras[start]!) && words(paras[start]!) <= 25))) start++;
  if (start >= intros[0]!) return null;
  let end = paras.length;
  while (end - 1 > intros[intros.length - 1]! && CLOSING.test(paras[end - 1]!)) end--;
  const intro = paras.slice(0, start).join('\n\n');
  const closing = paras.slice(end).join('\n\n');
  const bounds = [start, ...intros, end];
  const parts: IssuePart[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const own = paras.slice(bounds[k], bounds[k + 1]).join('\n\n');
    if (words(own) < minWords) return null;
    parts.push({ title: k === 0 ? titleOf(own, own, 'numeric') : titleOf(stripIntroducer(own), own, 'numeric'), text: compose([intro, own, closing]) });
  }
  return parts.length >= 2 ? parts : null;
}

function stripIntroducer(p: string): string {
  const m = /^[^\n]*?\b(?:issue|problem|question|bug|thing|error|request|topic|matter)\b(?:\s+(?:is|was))?(?:\s+that)?\s*[:,\-–—]?\s*/i.exec(p);
  const rest = m ? p.slice(m[0].length) : p;
  return words(rest) >= 2 ? rest : p;
}

/** Whether the request answers an earlier message (decided from the subject prefix or an
 * attribution line followed by quoted history); replies are never split. */
export function isReply(subject: string, text: string): boolean {
  if (REPLY_SUBJECT.test(subject)) return true;
  // A forward quotes what it forwards, but what it forwards is new to us.
  if (FORWARD_SUBJECT.test(subject)) return false;
  const lines = text.slice(0, 64 * 1024).split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (ATTRIBUTION.test(lines[i]!)) return true;
  }
  return false;
}

export function splitIssues(subject: string, text: string): IssuePart[] {
  const single: IssuePart[] = [{ title: subject, text }];
  if (text.length > MAX_SPLIT_CHARS || isReply(subject, text)) return single;
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const markers: Array<[number, Marker]> = [];
  lines.forEach((line, i) => {
    const m = markerOf(line);
    if (m) markers.push([i, m]);
  });
  // Counted ("two issues") relaxes the item minimum and admits bullets; "another issue" alone
  // only admits the prose split (it also appears in "related to another issue we had").
  const head = lines.slice(0, 60).join('\n');
  const explicit = COUNT_PHRASE.test(subject) || COUNT_PHRASE.test(head);
  const another = explicit || ANOTHER_PHRASE.test(subject) || ANOTHER_PHRASE.test(text.slice(0, 20_000));

  const candidates = [
    ...sequentialRuns(markers, 'labelled'),
    ...sequentialRuns(markers, 'ordinal'),
    ...numericLists(lines, markers),
    ...(explicit ? bulletRuns(markers, lines) : []),
  ];
  for (const c of candidates.slice(0, MAX_CANDIDATES)) {
    // Top level only: an enumeration indented under an earlier one is part of its item.
    const l = layout(lines, c);
    if (rejection(c, l, explicit) !== null) continue;
    return l.items.map((item, k) => ({
      title: titleOf(c.rests[k]!, item, c.kind),
      text: compose([l.intro, item, l.closing]),
    }));
  }
  if (another) {
    const prose = proseSplit(subject, lines.join('\n'), MIN_ITEM_WORDS);
    if (prose) return prose;
  }
  return single;
}
