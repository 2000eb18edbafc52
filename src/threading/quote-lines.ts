// Line recognisers for quote stripping: reply attribution headers ("On … wrote:" in many languages),
// Outlook-style header blocks, "Original Message" separators, forward markers and "Sent from my …".
// Every test takes a line already passed through norm() (capped at MAX_TEST_CHARS, trimmed) or a
// join of at most four, uses string operations and regexes without nested or adjacent unbounded
// quantifiers, and rejects ordinary prose on its first or last character, so cost is linear and small.

/** Longest piece of a line any recogniser looks at; the rest of a longer line cannot change the answer. */
export const MAX_TEST_CHARS = 400;

/**
 * Characters that behave like spaces in mail text: NBSP, zero-width and directional marks, BOM, and
 * the invisible fillers newsletters and trackers pad preheaders with (soft hyphen, CGJ, Hangul fillers, U+FFFC).
 */
// The combining ones (CGJ, Hangul jungseong filler, Khmer inherent vowels) stand outside the class: inside it they would combine with their neighbour.
const INVISIBLE = /[\u00a0\u00ad\u061c\u115f\u180e\u2000-\u200f\u202a-\u202f\u2060-\u2064\u3164\ufeff\uffa0\ufffc]|\u034f|\u1160|\u17b4|\u17b5/g;

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** A line as the recognisers see it: capped, invisible characters folded to spaces, trimmed. */
export function norm(line: string): string {
  // Leading space first: a long indent must not make a line with text at its end look blank.
  const start = line.length > MAX_TEST_CHARS ? line.trimStart() : line;
  const capped = start.length > MAX_TEST_CHARS ? start.slice(0, MAX_TEST_CHARS) : start;
  // Plain ASCII has none of them: skip the replace on most lines.
  return (NON_ASCII.test(capped) ? capped.replace(INVISIBLE, ' ') : capped).trim();
}

/**
 * `s` without trailing characters from `chars`. A loop, not /[…]+$/: that regex rescans a long run
 * of spaces from every start position, quadratic on a hostile line.
 */
export function trimEndChars(s: string, chars: string): string {
  let end = s.length;
  while (end > 0 && chars.includes(s[end - 1] ?? '')) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** Supercite-style quote prefix: the quoted author's initials before the mark ("AB> text"). */
const INITIALS_QUOTE = /^[A-Z]{1,3}>(?: |$)/;

/** `>`-quoted line (also `> >`, "AB> ", and a quote mark after leading spaces). Takes a normalised line. */
export function isQuoted(s: string): boolean {
  return s.startsWith('>') || (s.length > 1 && s.charCodeAt(0) >= 65 && s.charCodeAt(0) <= 90 && INITIALS_QUOTE.test(s));
}

function lastChar(s: string): string {
  return s[s.length - 1] ?? '';
}

// ---- reply attribution headers ----------------------------------------------------------------

/** Words that open an attribution line ("On <date>, <name> wrote:"), lower-cased. */
const OPENERS = ['on ', 'le ', 'am ', 'el ', 'em ', 'il ', 'op ', 'den ', 'w dniu ', 'dnia ', 'dne ', 'в ', 'на ', '在', 'el día ', 'le jeu', 'kl. '];

/** Verbs (in the attribution's language) that say "wrote", lower-cased, matched as substrings. */
const WROTE = [
  'wrote', 'writes', 'a écrit', 'a ecrit', 'schrieb', 'schreef', 'escribió', 'escribio', 'ha escrit', 'escreveu',
  'ha scritto', 'skrev', 'napisał', 'napisala', 'napisała', 'pisze', 'написал', 'написала', 'написав', 'пишет',
  'napsal', 'írta', 'irta', 'kirjoitti', 'yazdı', 'έγραψε', '写道', '寫道', '작성', 'のメッセージ', '書きました', 'כתב', 'كتب',
  'scrisse', 'scris', 'rašė', 'rakstīja', 'kirjutas', 'napísal', 'je napisal', 'написа',
  'quoting', 'zitat von', 'citando', 'cytuję', 'citat', 'пише', 'писав', 'писала',
];

/** The verbs an attribution may end on when the client left off the colon ("On … wrote"). */
const WROTE_AT_END = WROTE.filter((w) => !['quoting', 'zitat von', 'citando', 'cytuję', 'citat'].includes(w));
/** Those verbs by their last character: most prose lines are turned away on one look-up. */
const WROTE_BY_LAST = new Map<string, string[]>();
for (const w of WROTE_AT_END) {
  const last = w[w.length - 1] ?? '';
  WROTE_BY_LAST.set(last, [...(WROTE_BY_LAST.get(last) ?? []), w]);
}

const TIME = /\d{1,2}[:.]\d{2}/;
const YEAR = /(?:^|\D)(?:19|20)\d{2}(?:\D|$)/;
const MONTH_WORD = /\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\b/i;

function hasDate(s: string): boolean {
  return TIME.test(s) || YEAR.test(s) || (MONTH_WORD.test(s) && /\d/.test(s));
}

function hasAddress(s: string): boolean {
  const at = s.indexOf('@');
  return at > 0 && at < s.length - 1;
}

function endsWithColon(s: string): boolean {
  return s.endsWith(':') || s.endsWith('：');
}

/**
 * Strips decoration clients put around an attribution: "- Le …" (Zimbra), "*On …*", webmail's
 * "---- On … wrote ----" (Zoho) and "-----Name <a@b> schrieb: -----" (Notes).
 */
function stripLead(s: string): string {
  let i = 0;
  while (i < s.length && i < 8 && (s[i] === '-' || s[i] === '*' || s[i] === ' ' || s[i] === '_')) i++;
  let out = s.slice(i);
  if (out.endsWith('*')) out = out.slice(0, -1).trimEnd();
  if (out.endsWith('--')) out = trimEndChars(out, '- ');
  return out;
}

/** Gmail's old numeric attribution: "2016-03-03 17:21 GMT+01:00 Name:" with neither verb nor always an address. */
const NUMERIC_ATTRIBUTION = /^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}(?::\d{2})? (?:GMT|UTC)[+-]\d{1,2}(?::?\d{2})? (\S.{0,100})$/;

function isNumericAttribution(s: string): boolean {
  if (s.charCodeAt(0) < 48 || s.charCodeAt(0) > 57 || s[4] !== '-') return false;
  const m = NUMERIC_ATTRIBUTION.exec(s);
  if (!m) return false;
  // The tail is a name (with an address), not a log message: it ends the line with ":" or ">", or is a few capitalised words.
  const tail = m[1] ?? '';
  if (endsWithColon(tail) || tail.endsWith('>')) return true;
  const words = tail.split(' ');
  return words.length <= 4 && words.every((w) => /^\p{Lu}/u.test(w));
}

/** "On <date>, Name <a@b> wrote" with the colon left off: only with an address or a full date and time, and the verb last. */
function noColonStrength(s: string): HeaderStrength | null {
  const verbs = s.length > 200 ? undefined : WROTE_BY_LAST.get(lastChar(s).toLowerCase());
  if (!verbs) return null;
  const lower = s.toLowerCase();
  if (!verbs.some((w) => lower.endsWith(w))) return null;
  if (!hasDate(s)) return null;
  if (hasAddress(s) || (TIME.test(s) && YEAR.test(s) && OPENERS.some((o) => lower.startsWith(o)))) return 'strong';
  return null;
}

export type HeaderStrength = 'strong' | 'weak';

/**
 * Whether `text` (one line, or a few joined with spaces) is a reply attribution header.
 * strong: has a date, an address or a known opener, so it marks a quote even when the quoted
 * text is not `>`-prefixed. weak ("Someone wrote:"): only counts when `>` lines follow.
 */
export function attributionStrength(text: string): HeaderStrength | null {
  const end = lastChar(text);
  const letter = end.toLowerCase() !== end.toUpperCase() || end > '\u2e80';
  if (end !== ':' && end !== '：' && end !== '*' && end !== '-' && !letter) return null;
  const s = stripLead(text);
  if (s.length < 6) return null;
  if (isNumericAttribution(s)) return 'strong';
  if (!endsWithColon(s)) return noColonStrength(s);
  const lower = s.toLowerCase();
  const hasVerb = WROTE.some((w) => lower.includes(w));
  const dated = hasDate(s);
  const addressed = hasAddress(s);
  if (!hasVerb && !(dated && addressed)) return null;
  // "writes:" etc. inside a long sentence is prose, not a header: keep the verb near the end.
  if (hasVerb && !dated && !addressed && s.length > 80) return null;
  // Without a verb, only the Gmail/Yandex/mail.ru shape "<date> Name <a@b.example>:" counts.
  if (!hasVerb && !(s.endsWith('>:') || s.endsWith('>：') || s.endsWith(']:'))) return null;
  const opened = OPENERS.some((o) => lower.startsWith(o));
  return dated || addressed || opened ? 'strong' : 'weak';
}

/**
 * A loose attribution, for where the quote is known to start right below (our reply marker): a
 * short line naming "wrote" in any of the known languages, not ending as a sentence does.
 */
export function mentionsWrote(text: string): boolean {
  const s = stripLead(text);
  if (s.length < 6 || s.length > 200) return false;
  const end = lastChar(s);
  if (end === '.' || end === '!' || end === '?') return false;
  const lower = s.toLowerCase();
  return WROTE.some((w) => lower.includes(w));
}

/** Whether a line may start a multi-line attribution (wrapped by the sender's client). */
export function mayStartWrappedAttribution(line: string): boolean {
  const s = stripLead(line);
  if (s === '' || isQuoted(line)) return false;
  const last = s[s.length - 1];
  if (last === '.' || last === '!' || last === '?') return false;
  const lower = s.toLowerCase();
  if (OPENERS.some((o) => lower.startsWith(o)) || hasDate(s)) return true;
  // German clients put the name first and wrap the date: "Name <a@b> schrieb am Di., 3. März\n2026, 10:12:".
  return hasAddress(s) && WROTE.some((w) => lower.includes(w));
}

// ---- Outlook-style header blocks ---------------------------------------------------------------

type FieldKind = 'from' | 'sent' | 'to' | 'cc' | 'subject';

/** Header field names in the languages mail clients localise them into, lower-cased. */
const FIELD_NAMES: Record<string, FieldKind> = Object.fromEntries(
  ([
    ['from', ['from', 'de', 'van', 'von', 'da', 'från', 'fra', 'od', 'от', 'від', '发件人', '寄件者', '差出人', 'kimden', 'lähettäjä', 'feladó', 'remitente', 'afzender', 'odesílatel', 'expéditeur', 'absender', 'mittente']],
    ['sent', ['sent', 'date', 'envoyé', 'envoyé le', 'envoye', 'verzonden', 'gesendet', 'datum', 'inviato', 'data', 'enviado', 'enviada', 'fecha', 'skickat', 'sendt', 'wysłano', 'wysłane', 'отправлено', 'дата', 'надіслано', '发送时间', '發送時間', '日期', '送信日時', 'gönderildi', 'tarih', 'lähetetty', 'elküldve', 'odesláno', 'message du', 'sent at']],
    ['to', ['to', 'à', 'a', 'aan', 'an', 'para', 'till', 'til', 'do', 'кому', 'до', '收件人', '宛先', 'kime', 'vastaanottaja', 'címzett', 'komu', 'per']],
    ['cc', ['cc', 'kopie', 'copie', 'copie à', 'kopia', 'копия', '抄送', '副本', 'bilgi']],
    ['subject', ['subject', 'objet', 'onderwerp', 'betreff', 'oggetto', 'asunto', 'assunto', 'ämne', 'emne', 'temat', 'тема', '主题', '主旨', '件名', 'konu', 'aihe', 'tárgy', 'předmět', 'sujet', 'subj']],
  ] as const).flatMap(([kind, names]) => names.map((n) => [n, kind] as const)),
);

/** The field kind of a "Name: value" header line ("*From:* …", "De : …", "发件人：…"), or null. */
export function headerField(line: string): FieldKind | null {
  let s = line;
  if (isQuoted(s)) return null;
  const head = s.slice(0, 28);
  if (!head.includes(':') && !head.includes('：')) return null;
  if (s.startsWith('*')) s = s.replace(/^\*+/, '');
  let colon = s.indexOf(':');
  const wide = s.indexOf('：');
  if (wide >= 0 && (colon < 0 || wide < colon)) colon = wide;
  if (colon <= 0 || colon > 24) return null;
  const name = s.slice(0, colon).replace(/\*+$/, '').trim().toLowerCase();
  return FIELD_NAMES[name] ?? null;
}

/** A From line that stands alone as a header: "From: foo@example.com <foo@example.com>". */
export function isAddressedFromLine(line: string): boolean {
  return headerField(line) === 'from' && (hasAddress(line) || line.toLowerCase().includes('mailto'));
}

// ---- separators, forwards, mobile signatures ---------------------------------------------------

const ORIGINAL_MESSAGE = [
  'original message', 'ursprüngliche nachricht', "message d'origine", 'message original', 'mensaje original',
  'messaggio originale', 'oorspronkelijk bericht', 'opprinnelig melding', 'ursprungligt meddelande', 'oprindelig meddelelse',
  'původní zpráva', 'oryginalna wiadomość', 'исходное сообщение', 'alkuperäinen viesti', 'mensagem original', 'eredeti üzenet',
  'оригинальное сообщение', 'original-nachricht', '原始邮件', '原始郵件', 'reply message',
  'original besked', 'oprindelig besked', 'original meddelelse', 'originalmeddelelse', 'originalt meddelande', 'originalmeldung',
  'originalnachricht', 'origineel bericht', 'originalmelding', 'mensaje de origen', 'messaggio di origine', 'mensagem de origem',
  'mesaj original', 'orijinal mesaj', 'özgün ileti', 'pôvodná správa', 'izvirno sporočilo', 'izvorna poruka', 'originalna poruka',
  'оригинална порука', 'αρχικό μήνυμα', 'вихідне повідомлення', 'початкове повідомлення', 'оригінальне повідомлення',
  'оригинално съобщение', '元のメッセージ', '원본 메시지', 'tin nhắn gốc', 'pesan asli', 'oriģinālā ziņa', 'pradinis laiškas',
];

const ORIGINAL_MESSAGE_SET = new Set(ORIGINAL_MESSAGE);

/** The separator's words without decoration ("-----", "*", "_____", "=="), lower-cased. */
function originalMessageWords(s: string): string {
  return s.replace(/^[-_=*\s]+|[-_=*:\s]+$/g, '').toLowerCase();
}

/**
 * "-----Original Message-----" and its translations, decorated with dashes, `*` or `_` in any
 * case: the quoted history starts here.
 */
export function isOriginalMessageLine(s: string): boolean {
  if (s.length > 80) return false;
  const first = s[0];
  if (first !== '-' && first !== '_' && first !== '=' && first !== '*') return false;
  // A single dash or "=" opens list items and prose; the separator's rule is a run of them.
  if ((first === '-' || first === '=') && s[1] !== first) return false;
  return ORIGINAL_MESSAGE_SET.has(originalMessageWords(s));
}

/** The separator's words standing bare on a line ("ORIGINAL MESSAGE"); a cut only above a header field. */
export function isBareOriginalMessageLine(s: string): boolean {
  return s.length >= 4 && s.length <= 40 && !isQuoted(s) && ORIGINAL_MESSAGE_SET.has(originalMessageWords(s));
}

const FORWARD_MARKERS = [
  'forwarded message', 'begin forwarded message', 'forwarded by', 'weitergeleitete nachricht', 'anfang der weitergeleiteten nachricht',
  'message transféré', 'début du message réexpédié', 'début du message transféré', 'mensaje reenviado', 'inicio del mensaje reenviado',
  'messaggio inoltrato', 'inizio messaggio inoltrato', 'doorgestuurd bericht', 'begin doorgestuurd bericht', 'vidarebefordrat meddelande',
  'videresendt melding', 'videresendt besked', 'przekazana wiadomość', 'пересылаемое сообщение', 'переслане повідомлення',
  'mensagem encaminhada', 'início da mensagem reencaminhada', 'välitetty viesti', 'továbbított üzenet', '转发的邮件', '轉寄的郵件',
];

/** "---------- Forwarded message ---------", "Begin forwarded message:": a forward is new content. */
export function isForwardMarker(s: string): boolean {
  if (s.length > 90 || s.length < 8) return false;
  const first = s[0] ?? '';
  const end = lastChar(s);
  if (first !== '-' && first !== '_' && first !== '=' && first !== '*' && end !== ':' && end !== '：' && end !== '-') return false;
  const inner = s.replace(/^[-_=*\s]+|[-_=*:\s]+$/g, '').toLowerCase();
  return FORWARD_MARKERS.some((m) => inner === m || (inner.startsWith(m) && inner.length < m.length + 40));
}

/** A line of only dashes/underscores/equals used to separate a footer or a quoted message. */
export function isRuleLine(s: string): boolean {
  if (s.length < 3) return false;
  for (const c of s) if (c !== '-' && c !== '_' && c !== '=' && c !== '—' && c !== '*') return false;
  return true;
}

/** "-- " / "--": the conventional signature delimiter (RFC 3676 says "-- "; many omit the space). */
export function isSignatureDelimiter(s: string): boolean {
  return s === '--' || s === '—';
}

const MOBILE_PREFIXES = [
  'sent from ', 'sent via ', 'sent with ', 'sent using ', 'sent on the go', 'get outlook for ', 'envoyé de mon ', 'envoyé depuis ',
  'envoyé à partir de ', 'envoyé avec ', 'envoyé via ', 'inviato dal ', 'inviato dal mio ', 'inviato con ', 'enviado con ', 'enviado via ',
  'enviado do ', 'enviado a partir do ', 'verzonden van mijn ', 'verstuurd van mijn ', 'gesendet vom ', 'gesendet via ', 'von mein ',
  'von meinem ', 'gesendet von ', 'gesendet mit ', 'enviado desde ', 'enviado do meu ', 'enviado de mi ', 'inviato da ',
  'verzonden vanaf ', 'verzonden met ', 'verstuurd vanaf ', 'verstuurd met ', 'skickat från ', 'sendt fra ', 'wysłane z ', 'отправлено с ', 'надіслано з ',
  'lähetetty ', 'iphone\'dan gönderildi', 'from my iphone', 'from my android',
];

/**
 * "Sent from my iPhone", "Get Outlook for Android", "Sent with Sparrow (http://…)": a client's
 * automatic signature. A sentence that merely starts the same way ("Sent from my desk, is …") is not.
 */
const MOBILE_FIRST = new Set(MOBILE_PREFIXES.map((p) => p[0]));

/**
 * "Get Outlook for iOS" as Outlook words it per language: "Obtenir Outlook pour iOS", "Outlook für
 * Android herunterladen", "Obtener Outlook para iOS", "Outlook voor iOS downloaden", …
 */
const OUTLOOK_MOBILE = new RegExp(
  '^(?:(?:get|download|obtenir|télécharger|obtener|descargar|obter|baixar|baixe|scarica|ottieni|holen sie sich|hämta|hent|pobierz|скачать|скачайте|завантажте)\\s+)?' +
  'outlook\\s+(?:for|pour|para|per|für|fur|voor|för|til|dla|для)\\s+(?:ios|android)' +
  '(?:\\s+(?:herunterladen|beziehen|downloaden|downloade|hämta|скачать|завантажити))?\\.?$', 'i');

export function isMobileSignature(s: string): boolean {
  if (s.length < 8 || s.length > 80) return false;
  if (OUTLOOK_MOBILE.test(s)) return true;
  if (!MOBILE_FIRST.has(s[0]?.toLowerCase())) return false;
  // Apple Mail may send "Envoyé" decomposed (e + combining accent).
  const lower = s.normalize('NFC').toLowerCase();
  if (!MOBILE_PREFIXES.some((p) => lower.startsWith(p))) return false;
  const noUrl = s.replace(/\(?(?:https?:\/\/|www\.)\S*\)?/g, '').replace(/<[^<>\s]*>/g, '');
  if (/[,;!?]/.test(noUrl) || /\.\s/.test(noUrl)) return false;
  return noUrl.trim().split(/\s+/).length <= 9;
}
