// Bounces written for people: the explanation text of qmail, Exim, Postfix, Sendmail, Exchange,
// Lotus Notes and hosted providers (Gmail, Yahoo, Outlook.com, ...). Recognises the wording,
// and pulls status codes and failed recipients out of the part before the returned message.
// Pure and linear: every scan is capped and every pattern is bounded.

/** The explanation precedes the returned message; nothing useful lies beyond this. */
const MAX_REPORT_CHARS = 48 * 1024;
const MAX_RECIPIENTS = 100;

/** Subjects MTAs and providers give their failure and delay notices (several languages). */
const BOUNCE_SUBJECT = new RegExp(
  [
    'undeliver(?:able|ed)', 'undelivered mail', 'returned mail', 'returning message', 'failure notice',
    'delivery (?:status notification|failure|failed|has failed|problem|notification|report)',
    'mail delivery (?:failed|failure|problem|error|system)', 'delivery to .{0,80} failed',
    'non[- ]?deliver(?:y|able)', 'not delivered', 'could not be delivered', 'message not delivered',
    'mail system error', 'returned to sender', 'undeliverable mail', 'warning: could not send',
    'delayed mail', 'delivery delayed', 'delivery (?:is )?delayed', 'message delayed',
    // de, fr, es, it, nl, pt, sv/da/no, fi, pl, lv, cs
    'unzustellbar', 'nicht zustellbar', 'zustellung fehlgeschlagen', 'non remis', 'non distribuable',
    'échec de (?:la )?(?:remise|livraison)', 'no se puede entregar', 'no entregado', 'imposible entregar',
    'non recapitabile', 'mancato recapito', 'onbestelbaar', 'niet bezorgd', 'não entregue',
    'impossível entregar', 'olevererbar', 'kunne ikke leveres', 'ikke levert', 'kan ikke leveres',
    'ei voitu toimittaa', 'niedostarczalna', 'nie dostarczono', 'nepiegādāt', 'nepiegādāts', 'nedoručitelné',
    // ja (carriers and hosting providers), zh, ko, ru
    '配信エラー', '送信エラー', '配送エラー', '配信不能', '配信失敗', '(?:配信|送信|配送)に失敗', '不達', '未達', 'エラーメール', '宛先不明',
    'メールが届きませんでした', '送信できませんでした', '配信できませんでした', '未配信',
    '退信', '投递失败', '发送失败', '無法傳遞', '반송', '전달 실패', '배달 실패',
    'не доставлено', 'недоставленное сообщение', 'ошибка доставки', 'невозможно доставить',
  ].join('|'),
  'i',
);

/** Delay notices: a bounce that is not (yet) a failure. */
const DELAY_SUBJECT = /\b(?:delay(?:ed)?|warning: could not send|still (?:being )?(?:retried|trying)|verzögert|retardé|retrasad)/i;

/**
 * Sentences only MTAs write: the opening lines of their report templates. Matched against the
 * report text only. Together with a bounce subject these alone make a bounce.
 */
const BOUNCE_BODY = new RegExp(
  [
    'this is the (?:mail system|qmail-send program|postfix program) at',
    'i\'m sorry to have to inform you that your message could not',
    'i\'m afraid i wasn\'t able to deliver',
    'this message was created automatically by mail delivery software',
    'message could not be delivered to one or more',
    'could not be delivered to (?:one or more|the following|some)',
    'delivery to the following recipients? (?:failed|has been delayed|was unsuccessful)',
    'delivery has failed to these recipients',
    'your message to .{0,200} (?:couldn\'t|could not) be delivered',
    'the following (?:addresses|recipients?) (?:had permanent fatal errors|failed|could not be reached|cannot be reached)',
    'transcript of session follows',
    'did not reach the following recipient',
    'sorry,? we were unable to deliver',
    'smtp error from remote mail server',
    'unrouteable address',
    'retry timeout exceeded',
    'this is an automatically generated delivery status notification',
    'the original message was received at',
    'undeliverable message',
  ].join('|'),
  'i',
);

/**
 * Wording people use too ("my parcel was not delivered to me", "user unknown"): evidence of a
 * bounce only beside a machine sender or the structure of a report (transcript, returned message).
 */
const BOUNCE_WORDING = new RegExp(
  [
    'could not be delivered to', 'couldn\'t be delivered to', 'trouble delivering', 'problem delivering',
    'invalid (?:user|recipient|mailbox|address)', 'user unknown', 'unknown user', 'no such (?:user|mailbox|recipient)',
    'mailbox (?:is )?(?:full|unavailable|not found)', 'over ?quota', 'quota exceeded', 'recipient (?:address )?rejected',
    'was not delivered to', 'failed to deliver', 'has not (?:yet )?been delivered', 'permanent(?:ly)? (?:fatal )?(?:error|failure|failed)',
    'delivery (?:status notification|failure)', 'message delivery (?:failed|has failed|to .{0,200} failed)',
    'unable to deliver (?:your|the|this) message',
    'your message (?:did not|didn\'t|could not|couldn\'t|wasn\'t|was not|cannot|can\'t) (?:reach|be delivered|delivered)',
    'your email (?:could not|couldn\'t|wasn\'t|was not) (?:be )?delivered',
    'remote (?:host|server) (?:said|replied)', 'message (?:is )?(?:undeliverable|returned)', 'returned to sender',
    // ja, zh, ko, ru, de, fr, es
    '宛先不明', '配信できませんでした', '送信できませんでした', '届きませんでした', '存在しません', '無効なアドレス', '容量(?:を)?超過',
    '退信', '投递失败', '无法投递', '반송', '전달되지 않았습니다', 'не может быть доставлено', 'не доставлено',
    'konnte nicht zugestellt werden', 'n\'a pas pu être (?:remis|distribué)', 'no pudo ser entregado', 'no se pudo entregar',
  ].join('|'),
  'i',
);

/** Where the explanation ends and the returned message (or its headers) begins. */
const ORIGINAL_MARKER = new RegExp(
  '^\\s*(?:' +
    [
      '-{2,}\\s*(?:original message|this is a copy of the message|below this line is a copy|the header of the original message|original message follows|returned message|undelivered message|forwarded message|message headers? follows?|copy of (?:the )?message)',
      'original message headers:',
      '(?:received|return-path|dkim-signature|x-received|arc-seal|message-id|mime-version|delivered-to): ',
    ].join('|') +
    ')',
  'i',
);

/** Separators MTAs put above the message they return; a person's "Original Message" is not one. */
const RETURNED_INLINE = /^\s*(?:-{2,}\s*(?:this is a copy of the message|below this line is a copy|the header of the original message|original message follows|returned message|undelivered message|message headers? follows?|copy of (?:the )?(?:original )?message)|original message headers:|-{2,}\s*(?:元の|原始)|return-path: ?<)/im;

/** The message a bounce returns, below its explanation, inline in the text. */
export function hasReturnedMessageInline(text: string): boolean {
  return RETURNED_INLINE.test(text.slice(0, MAX_REPORT_CHARS));
}

const DASHES_AT_START = /^\s*-{2,}/;

/** The per-line rule: a marker line, where header-looking lines count only from line 3 on. */
function endsReport(line: string, index: number): boolean {
  return ORIGINAL_MARKER.test(line) && (index >= 3 || DASHES_AT_START.test(line));
}

/**
 * Whether a line starting with this UTF-16 unit can match ORIGINAL_MARKER. After `^\s*` each
 * alternative opens with '-' or an ASCII letter of "original", "received", "return-path",
 * "dkim-signature", "x-received", "arc-seal", "message-id", "mime-version" or "delivered-to"
 * (under /i without /u only ASCII letters match those), so any other first unit rules the line
 * out unless it may be white space: every \s is below 33, U+00A0 or from U+1680 on. NaN (an
 * empty line) is none of these.
 */
function mayOpenMarker(c: number): boolean {
  if (c <= 32 || c === 0xa0 || c >= 0x1680) return true;
  const lower = c | 0x20;
  return c === 45 || lower === 111 || lower === 114 || lower === 100 || lower === 120 || lower === 97 || lower === 109;
}

/** Returns the explanation part of a bounce text: up to the returned message, capped. */
export function reportSection(text: string): string {
  const capped = text.length > MAX_REPORT_CHARS ? text.slice(0, MAX_REPORT_CHARS) : text;
  // The per-line rule over the '\n'-lines without splitting the text; a line whose first unit
  // cannot open a marker is passed over without running the pattern.
  let start = 0;
  for (let i = 0; ; i++) {
    const nl = capped.indexOf('\n', start);
    if (mayOpenMarker(capped.charCodeAt(start)) && endsReport(capped.slice(start, nl === -1 ? capped.length : nl), i)) {
      return start === 0 ? '' : capped.slice(0, start - 1);
    }
    if (nl === -1) return capped;
    start = nl + 1;
  }
}

/** The per-line form of reportSection, kept as the reference its tests compare against. */
export function reportSectionByLines(text: string): string {
  const capped = text.length > MAX_REPORT_CHARS ? text.slice(0, MAX_REPORT_CHARS) : text;
  const lines = capped.split('\n');
  let end = lines.length;
  // Header-looking lines only count as the returned message after a few lines of explanation.
  for (let i = 0; i < lines.length; i++) {
    if (endsReport(lines[i]!, i)) {
      end = i;
      break;
    }
  }
  return lines.slice(0, end).join('\n');
}

export function looksLikeBounceSubject(subject: string): boolean {
  return BOUNCE_SUBJECT.test(subject.slice(0, 500));
}

export function looksLikeDelaySubject(subject: string): boolean {
  return DELAY_SUBJECT.test(subject.slice(0, 500));
}

/**
 * A necessary condition for BOUNCE_BODY, with its flags: each of its sentences contains one of
 * these words ("deliver" in most; "this is the", "sorry", "the following", "transcript", "smtp",
 * "unrouteable", "retry timeout", "the original message" in the others). One cheap scan spares the
 * big alternation on ordinary mail.
 */
const BOUNCE_BODY_HINT = /deliver|this is the|sorry|the following|transcript|smtp|unrouteable|retry timeout|the original message/i;

/** The MTA wording a bounce report uses, or null. */
export function bounceBodyPhrase(section: string): string | null {
  if (!BOUNCE_BODY_HINT.test(section)) return null;
  const m = BOUNCE_BODY.exec(section);
  return m ? m[0].toLowerCase().replace(/\s+/g, ' ') : null;
}

/** Failure wording people use as well as MTAs, or null. */
export function bounceWording(section: string): string | null {
  const m = BOUNCE_WORDING.exec(section);
  return m ? m[0].toLowerCase().replace(/\s+/g, ' ') : null;
}

const SMTP_COMMAND = /(?:^|>>>|<<<)[ \t]*(?:rcpt to|mail from|data|ehlo|helo)\b|\b(?:in reply to|after) (?:rcpt to|mail from|data|end of data)\b/im;
/** Postfix and Exim quote the reply inline: "host mx.example said: 550 5.1.1 ...". */
const SAID_REPLY = /\b(?:said|replied|responded):[ \t]*[45]\d\d[ -]/i;
/** "550 5.1.1 ...", "<<< 550 ..." and InterScan's "Received >>> 550 ..." (arrows point either way). */
const SMTP_REPLY = /(?:^|>>>|<<<)[ \t]*[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\b|\S)/m;

/**
 * An SMTP dialogue in the text: a 4xx/5xx reply line and the command it answered (or a
 * "host said: 550" line). A lone "550 user unknown" quoted by a person is not a transcript.
 */
export function hasSmtpTranscript(section: string): boolean {
  return SAID_REPLY.test(section) || (SMTP_REPLY.test(section) && SMTP_COMMAND.test(section));
}

const GREETING = /^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|hallo|guten tag|bonjour|hola|buongiorno|ciao)\b(?:[ \t]+[^\s,.!:]+){0,3}[ \t]*[,!:]?[ \t]*$/im;
const SIGN_OFF = /^\s*(?:thanks?(?: you)?(?: in advance)?|many thanks|thx|cheers|(?:best |kind |warm )?regards|best(?: wishes)?|sincerely|yours(?: truly| sincerely)?|mit freundlichen gr(?:ü|ue)(?:ß|ss)en|viele gr(?:ü|ue)(?:ß|ss)e|cordialement|merci|saludos|atentamente|grazie)\b[^\n]{0,40}$/im;
const FIRST_PERSON = /\b(?:i|we|my|our|i'm|we're|i've|we've|could you|can you|please help)\b/gi;

/**
 * A person's letter rather than a machine's report: a greeting line or a sign-off, or
 * first-person prose throughout. MTAs write "I'm sorry to inform you" once, never "Hi" or "Thanks".
 */
export function readsAsPersonalLetter(section: string): boolean {
  const head = section.slice(0, 4000);
  if (GREETING.test(head) || SIGN_OFF.test(head)) return true;
  return (head.match(FIRST_PERSON)?.length ?? 0) >= 5;
}

// ---- status codes ----

const ENHANCED_GLOBAL = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)/g;
/** Basic SMTP reply codes that appear in reports ("550 ...", "550-...", "#550", "said: 554"). */
const SMTP_CODE_GLOBAL = /(?:^|[\s:#(<"'])([45][0-5]\d)(?=[\s-][^\d]|[\s-]?$|\s[245]\.\d)/gm;

/** Known wording -> the enhanced status it stands for, used when the report gives none. */
const PHRASE_STATUS: ReadonlyArray<[RegExp, string]> = [
  [/容量(?:を)?超過|mailbox (?:is )?full|over ?quota|quota (?:exceeded|full)|exceeded (?:the |his |her |their |its )?(?:storage|quota|mailbox)|insufficient (?:disk |system )?(?:space|storage)|mailbox size limit|full mailbox|postfach voll/i, '4.2.2'],
  [/message (?:is )?too (?:large|big)|message size exceeds|size limit exceeded|exceeds (?:the )?(?:maximum )?(?:message )?size/i, '5.3.4'],
  [/host (?:or domain name )?not found|domain (?:name )?not found|unrouteable (?:mail )?domain|no mx (?:record|host)|host unknown|unknown host|name or service not known|domain does not exist|nxdomain|no such domain|bad destination (?:mailbox|system)/i, '5.1.2'],
  [/account (?:has been |is )?(?:disabled|inactive|suspended|locked|deactivated)|mailbox (?:is )?(?:disabled|inactive|deactivated)|inactive (?:user|account)/i, '5.2.1'],
  [/宛先不明|存在しません|無効なアドレス|user unknown|unknown user|no such (?:user|mailbox|recipient|address|person)|(?:does not|doesn't|did not) exist|invalid (?:recipient|mailbox|address|user)|recipient (?:address )?rejected|mailbox (?:is )?unavailable|mailbox not found|not listed in (?:the )?(?:domino )?(?:public )?(?:name and address book|directory)|unrouteable address|user not found|addressee unknown|no mailbox|recipient not found|unknown (?:local[- ]part|recipient|address|mailbox)|address rejected|no longer (?:valid|available|active)|not our customer|user doesn't have a .{1,40} account|recipient unknown|mailbox does not exist|unknown or illegal alias|invalid mailbox|nicht bekannt|unbekannt|inconnu|sconosciuto|desconocido/i, '5.1.1'],
  [/not unique\.? +several matches/i, '5.1.4'],
  [/system not accepting network messages/i, '5.3.2'],
  [/relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited)|not permitted to relay|unable to relay|relay not permitted/i, '5.7.1'],
  [/blocked|black ?list|block ?list|spam|rejected (?:for|due to|by) policy|policy (?:violation|reasons|rejection)|access denied|not authori[sz]ed|message rejected/i, '5.7.1'],
  [/retry time(?:out)? (?:exceeded|expired)|delivery time expired|message expired|expired after|too long in (?:the )?queue|gave up|giving up/i, '4.4.7'],
  [/could not initiate (?:an )?smtp conversation|connection (?:was )?dropped|not accepting (?:network )?messages/i, '4.3.2'],
  [/connection (?:timed out|refused)|could not connect|couldn't connect|timed out while/i, '4.4.1'],
  [/delivery to the following recipients? has been delayed|has not (?:yet )?been delivered|will (?:continue to |keep )?(?:try|retry)|still trying|deferred|temporar(?:y|ily) (?:failure|unavailable|rejected|error|problem)/i, '4.0.0'],
];

const PERMANENT_WORDS = /failed permanently|permanent(?:ly)? (?:fatal )?(?:failure|error|failed)|permanent fatal errors/i;

function pushUnique(list: string[], value: string): void {
  if (!list.includes(value)) list.push(value);
}

/**
 * Status codes in a report section: enhanced codes as written; otherwise one derived from known
 * wording or from basic SMTP codes (550 -> 5.0.0, 452 -> 4.0.0) so every bounce says permanent or not.
 */
export function statusesFromText(section: string): string[] {
  const out: string[] = [];
  for (const m of section.matchAll(ENHANCED_GLOBAL)) {
    pushUnique(out, `${m[1]}.${Number(m[2])}.${Number(m[3])}`);
    if (out.length >= 20) break;
  }
  // A transcript quotes the successful steps too ("250 2.1.0 Sender ok"): only failures describe the bounce.
  const failures = out.filter((s) => !s.startsWith('2'));
  if (failures.length > 0) return failures;
  out.length = 0;

  const codes: string[] = [];
  for (const m of section.matchAll(SMTP_CODE_GLOBAL)) {
    pushUnique(codes, m[1]!);
    if (codes.length >= 10) break;
  }
  const phrase = PHRASE_STATUS.find(([re]) => re.test(section))?.[1] ?? null;
  // What the reporting server decided beats the wording's usual class: "550 mailbox full" and
  // "failed permanently: connection dropped" are final, whatever the cause usually means.
  const klass = PERMANENT_WORDS.test(section) ? '5' : codes[0]?.[0];
  if (phrase) {
    pushUnique(out, klass && klass !== phrase[0] ? `${klass}${phrase.slice(1)}` : phrase);
    return out;
  }
  for (const code of codes) pushUnique(out, code === '552' ? '5.2.2' : `${code[0]}.0.0`);
  if (out.length === 0 && klass === '5') out.push('5.0.0');
  return out;
}

// ---- failed recipients ----

const ADDRESS = /[A-Za-z0-9._%+'=&-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}/;
const ADDRESS_GLOBAL = new RegExp(ADDRESS.source, 'g');
const ONLY_ADDRESS = new RegExp(`^\\s*(?:mailto:)?["'<(]?(${ADDRESS.source})[>"')]?\\s*[:,;.]?\\s*$`);
const ANGLE_AT_START = new RegExp(`^\\s*<(${ADDRESS.source})>`);
const RCPT_TO = new RegExp(`rcpt to:\\s*<(${ADDRESS.source})>`, 'i');
const ADDRESS_ON_DATE = new RegExp(`^\\s*['"]?(${ADDRESS.source})['"]?\\s+on\\s+\\d`);
const FAILURE_WORDS = /fail|trouble|problem|unknown|not (?:found|exist|listed|deliver|reach|unique)|reject|undeliver|invalid|unavailable|refused|denied|full|quota|\b[45]\d\d\b|[45]\.\d{1,3}\.\d{1,3}|could not|couldn't|unable|error|delay|does not|doesn't|disabled/i;
const HEADER_LINE = /^\s*(?:from|to|cc|reply-to|sender|return-path|subject|date|message-id|received|x-[a-z-]+):/i;
const DAEMON_LOCAL = /^(?:mailer-?daemon|mailer_daemon|mail-?daemon|postmaster|mail-delivery-system|bounces?)$/i;

/**
 * Failed recipients named in a report section: "<a@b>:" lines (qmail, Postfix), lines holding
 * only an address (Exim, Sendmail, Gmail, Exchange), "RCPT TO:<a@b>", "a@b on <date>" (Exchange)
 * and addresses on lines that also say what failed (Lotus Notes, providers).
 */
export function recipientsFromText(section: string, exclude: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const add = (addr: string | undefined): void => {
    if (!addr || out.length >= MAX_RECIPIENTS) return;
    const a = addr.toLowerCase().replace(/[.]+$/, '');
    const local = a.slice(0, a.indexOf('@'));
    if (exclude.has(a) || DAEMON_LOCAL.test(local)) return;
    pushUnique(out, a);
  };
  const lines = section.split('\n');
  const loose: string[] = [];
  for (const line of lines.slice(0, 4000)) {
    if (line.length > 2000 || HEADER_LINE.test(line)) continue;
    const only = ONLY_ADDRESS.exec(line);
    if (only) { add(only[1]); continue; }
    const angle = ANGLE_AT_START.exec(line);
    if (angle) { add(angle[1]); continue; }
    const rcpt = RCPT_TO.exec(line);
    if (rcpt) { add(rcpt[1]); continue; }
    const onDate = ADDRESS_ON_DATE.exec(line);
    if (onDate) { add(onDate[1]); continue; }
    if (FAILURE_WORDS.test(line)) for (const m of line.matchAll(ADDRESS_GLOBAL)) loose.push(m[0]);
  }
  // Addresses merely mentioned on failure lines count only when nothing more precise was found:
  // they may name the sender ("your message from a@b ...") as easily as the recipient.
  if (out.length === 0) for (const a of loose) add(a);
  return out;
}
