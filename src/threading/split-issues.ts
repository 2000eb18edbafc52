// Splitting one new request into several issues (spec section 4). Pure, line-based and linear.
// The text is cut into segments (list items of any marker style, labelled problems, headings,
// ordinal and "another problem" paragraphs, P.S.); each is judged (a problem report in English,
// German, French or Spanish? a step, a question, data?) and the text splits only when two or more
// independent reports stand at one level with an enumeration cue. When unsure: one case.

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
/** More items than this is an inventory, a log or a checklist, not a set of separate reports. */
const MAX_ITEMS = 20;
/** A "real description" (not a one-liner) when nothing but the markers says these are issues. */
const MIN_ITEM_WORDS = 8;
/** A bullet under a "the following" intro must be a full description, not a keyword. */
const MIN_BULLET_WORDS = 6;
/** When the writer labels or counts the issues, shorter items are still issues. */
const MIN_ITEM_WORDS_EXPLICIT = 3;

// ---------------------------------------------------------------------------------------------
// Replies

/** Re:, AW:, SV:, VS:, Antw:, Odp:, RIF:, R:, Ynt:, 回复: — the message answers something. */
const REPLY_SUBJECT = /^\s*(?:re|aw|sv|vs|antw(?:ort)?|odp|ynt|rif|ris|r|réf|ref|回复|答复|返信)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]/i;
const FORWARD_SUBJECT = /^\s*(?:fwd?|fw|wg|tr|enc|rv|vb|i)\s*:/i;
/** An attribution line with quoted history below it: the text is a reply even without "Re:". */
const ATTRIBUTION = /^\s*(?:on .{1,200} wrote:|-{2,}\s*original message\s*-{2,}|am .{1,200} schrieb .{0,200}:|le .{1,200} a écrit\s*:|el .{1,200} escribió\s*:)\s*$/i;

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

// ---------------------------------------------------------------------------------------------
// Judging one segment: what the words say, in English, German, French and Spanish

/** A symptom, an error or expected-against-actual, in English, German, French and Spanish. Word
 * look-ups and a few short patterns rather than one big alternation: that compiled for ~40 ms and
 * scanned 30 KB in ~60 ms. Only a segment's opening is read (a report states its symptom early). */
const PROBLEM_WORDS = new Set((
  // English
  'fail fails failed failing failure error errors exception exceptions crash crashes crashed crashing hang hangs hanging hung '
  + 'freeze freezes freezing froze slow slower slowly timeout timeouts broken breaks wrong incorrect incorrectly missing bug bugs '
  + 'stuck spin spins lost lose loses disappear disappears disappeared duplicate duplicates duplicated twice empty blank reject '
  + 'rejects rejected refuses refused ignores ignored denied invalid corrupt corrupted garbled truncated unresponsive unavailable '
  + 'down abort aborts aborted stop stops stopped anymore expected actual actually unable cannot blurred blurry distorted overlap '
  + 'overlaps overlapping misaligned unreadable delay delays delayed whenever although never '
  + "can't couldn't won't doesn't don't didn't isn't aren't can’t couldn’t won’t doesn’t don’t didn’t isn’t aren’t "
  // German
  + 'hängt hängen langsam langsamer falsch falsche falschen fehlt fehlen kein keine keinen keiner statt anstatt leer leere leeren '
  + 'doppelt doppelte verschwunden abgebrochen zeitüberschreitung unvollständig kaputt nicht zweimal obwohl trotz fehlgeschlagen '
  // French
  + 'erreur erreurs plante plantent planté plantage bloque bloqué bloquée bloqués fige figé lent lente lents lenteur incorrect '
  + 'incorrecte incorrects faux fausse manque manquent manquant manquante impossible attendu échoue échouent échoué échec vide vides '
  + 'disparu disparue disparus malgré '
  // Spanish
  + 'falla fallan falló fallo lento lenta lentitud incorrecto incorrecta incorrectos incorrectas falta faltan esperado esperada '
  + 'vacío vacía vacio vacia duplicado duplicada duplicados duplicadas roto rota rotos rotas aunque'
).split(' ').filter((w) => w !== ''));
/** Stems: any word that starts with one of these. */
const PROBLEM_STEMS = ['fehler', 'stürz', 'absturz', 'abstürz', 'misbehav', 'verschwind', 'disparu', 'échou', 'desaparec', 'pierde', 'erwartet', 'tatsächlich'];
const PROBLEM_PHRASES = new RegExp([
  String.raw`\b(?:time[sd]? ?out|no longer|any more|instead of|cuts? off|nothing happens|every time|each time|differs? from|different from|even though|even with)\b`,
  String.raw`\bnot (?:work|load|open|show|start|save|send|arriv|appear|possible)`,
  String.raw`\b(?:returns?|shows?|finds?|gets?|displays?|produces?) (?:no|nothing|negative|zero|an? (?:error|blank|empty))\b`,
  String.raw`\b(?:funktioniert\w* nicht|geht nicht|klappt nicht|bricht\w* ab|schläg\w* fehl|lässt sich nicht|jedes mal)\b`,
  String.raw`\bne \S+ (?:pas|plus)\b|\bn['’]\S+ (?:pas|plus)\b|\bau lieu d(?:e|es|u)\b|\bdeux fois\b|\ben double\b|\bchaque fois\b|\bbien que\b|\balors que\b`,
  String.raw`\bno (?:se |le |les |lo |la )?\S+(?:a|an|e|en|o)\b|\bse (?:cuelga|bloquea|cierra|congela)\b|\bya no\b|\ben (?:lugar|vez) de\b|\bdos veces\b|\bcada vez\b|\ba pesar de\b`,
].join('|'));
/** Error codes: E-4021, HTTP 500, ORA-00942, 0x80070005, "500 internal". */
const ERROR_CODE = /\b[A-Z]{1,5}-\d{2,6}\b|\bHTTP[ /]?[45]\d\d\b|\b[45]\d\d (?:error|internal|not found|bad|forbidden|unauthori[sz]ed)|\b0x[0-9A-Fa-f]{6,8}\b/i;
const JUDGED_CHARS = 1200;

function reportsProblem(text: string): boolean {
  const head = text.slice(0, JUDGED_CHARS);
  const lower = head.toLowerCase();
  for (const m of lower.matchAll(/[\p{L}'’]+/gu)) {
    const w = m[0];
    if (PROBLEM_WORDS.has(w) || PROBLEM_STEMS.some((st) => w.startsWith(st))) return true;
  }
  return PROBLEM_PHRASES.test(lower) || ERROR_CODE.test(head);
}

/** Step-like openings: the item says what to do, not what goes wrong. */
const IMPERATIVE = /^(?:open|click|go|navigate|enter|select|run|type|press|log ?in|login|start|install|create|add|set|configure|restart|wait|upload|download|save|close|launch|execute|choose|fill|submit|copy|paste|observe|check|try|delete|remove|edit|update|change|switch|scroll|tap|sign|import|export|drag|right-click|double-click|reboot|stop|call|send|make|use|put|insert|load|reload|refresh|hit|visit|access|connect|disconnect|then|now|next|finally|see|note|verify|confirm|apply|enable|disable|mount|build|compile|deploy|invoke|query|search|find|attach|browse|print|generate|schedule|assign|upgrade|downgrade|uninstall|boot|öffne\w*|klick\w*|gehe\w*|wähle\w*|starte\w*|gebe?\w*|melde\w*|speicher\w*|dann|danach|anschließend|ouvr\w*|cliqu\w*|aller|allez|sélectionn\w*|saisi\w*|lanc\w*|enregistr\w*|puis|ensuite|abr[ae]\w*|abrir|haga|hacer|ir|vaya|seleccion\w*|introduz\w*|guard[ae]\w*|luego|después)\b/;
/** Expected/actual halves of one report, not two reports. */
const EXPECTED_ACTUAL = /^(?:expected|actual|result|erwartet\w*|tatsächlich\w*|ergebnis|ist-zustand|soll-zustand|attendu|obtenu|résultat|esperado|resultado|actual)\b/;
const QUESTION_START = /^(?:¿|how|can|could|is|are|do|does|what|why|when|where|which|who|would|will|should|shall|wie|kann|können|ist|gibt|warum|wann|wo|was|welche\w*|comment|pourquoi|est-ce|peut-on|pouvez|quand|où|quel\w*|cómo|por qué|puedo|podemos|pueden|hay|cuándo|dónde|qué|cuál\w*)\b/;
/** Starts that point back at what was said before: the segment is not self-contained. */
const ANAPHORA = /^(?:it|this|that|these|those|the same|same|also the|es|das|dies\w*|derselbe|dasselbe|il|elle|cela|ça|ce|le même|la même|esto|eso|lo mismo|él|ella)\b/;

/** Starts that carry on from the item before: a consequence, not a new report. */
const CONSEQUENCE = /^(?:after (?:that|this|the (?:crash|error|failure|restart|update))|afterwards|as a result|because of (?:this|that)|therefore|so now|then|and then|danach|dadurch|deshalb|daraufhin|infolgedessen|ensuite|du coup|par conséquent|après (?:cela|ça)|después|luego|por eso|como resultado|por lo tanto)\b/;

const STOPWORDS = new Set(('that this with from when what have been were they them their there then than also only even into over under after before about some other every each which while since until '
  + 'dass wenn dann eine einer einem einen nicht auch noch sich sind wird wurde werden beim nach über unter seit '
  + 'dans pour avec sans mais plus elle elles nous vous sont être tout tous toutes depuis quand '
  + 'para pero como cuando desde este esta estos estas todos todas sobre entre sino también').split(' '));

/** Content words of a segment, for telling "the same problem again" from a new one. */
function contentWords(s: string): Set<string> {
  const out = new Set<string>();
  for (const m of s.slice(0, JUDGED_CHARS).toLowerCase().matchAll(/[\p{L}][\p{L}'’-]{3,}/gu)) if (!STOPWORDS.has(m[0])) out.add(m[0]);
  return out;
}

/** Two segments that say mostly the same thing (overlap over the smaller's words). */
function sameProblem(a: Set<string>, b: Set<string>): boolean {
  if (a.size < 3 || b.size < 3) return false;
  let common = 0;
  for (const w of a) if (b.has(w)) common++;
  return common / Math.min(a.size, b.size) >= 0.6;
}

/** Lines that are data, not prose: versions, log lines, stack frames, paths, key=value dumps. */
const DATA_LINE = /^(?:at\s+[\w$.<>]+[.(]|#?\d+\s+0x[0-9a-f]+|0x[0-9a-f]+|\[?\d{4}-\d\d-\d\d|\[?\d\d:\d\d:\d\d|\[?(?:ERROR|WARN(?:ING)?|INFO|DEBUG|TRACE|FATAL|SEVERE|CRITICAL|NOTICE)\b|File "|Traceback|Caused by:|[\w$]+(?:\.[\w$<>]+){2,}\s*\(|[\w$]+(?:::[\w$]+)+|v?\d+(?:\.\d+)+\b|[A-Za-z]:\\|\/[\w.-]+\/|[\w.-]+\s*[=:]\s*\S+$|[\w.]+\([\w.]*:\d+\))/;

/** The word-list patterns are written in lower case and run on lower-cased text: case-insensitive
 * patterns of this size cost tens of milliseconds to compile on a process's first message. */
function lc(s: string): string {
  return s.toLowerCase();
}

function words(s: string): number {
  let n = 0;
  for (const _ of s.matchAll(/[\p{L}][\p{L}'’-]*/gu)) n++;
  return n;
}

function isBlank(s: string | undefined): boolean {
  return s === undefined || s.trim() === '';
}

interface Judgement {
  words: number;
  report: boolean;
  question: boolean;
  step: boolean;
  data: boolean;
}

/** Judges one segment's own text (marker removed). */
function judge(body: string): Judgement {
  // Thresholds are a few words; the opening decides and the cost stays bounded.
  const text = body.trim().slice(0, 4 * JUDGED_CHARS);
  const first = text.split('\n')[0]!.trim();
  const tokens = text.split(/\s+/).filter((t) => t !== '');
  const w = words(text);
  const data = DATA_LINE.test(first) || (tokens.length > 0 && w / tokens.length < 0.5);
  const report = reportsProblem(text);
  const firstSentence = /^[^.!?]*[.!?]?/.exec(text)![0];
  const question = /\?\s*$/.test(firstSentence) || (QUESTION_START.test(lc(first)) && text.includes('?'));
  const step = EXPECTED_ACTUAL.test(lc(first)) || (IMPERATIVE.test(lc(first)) && !report);
  return { words: w, report, question, step, data };
}

// ---------------------------------------------------------------------------------------------
// Cues around a list: the intro line above it

/** The writer counts several issues ("two issues", "zwei Probleme", "plusieurs problèmes"). */
const COUNT_PHRASE = /\b(?:two|three|four|five|six|2|3|4|5|6|several|multiple|a few|a couple of|couple of|a number of|separate|distinct|unrelated|zwei|drei|vier|mehrere|einige|verschiedene|deux|trois|quatre|plusieurs|quelques|dos|tres|cuatro|varios|varias|algunos|algunas)\s+(?:(?:[a-zà-ÿ-]+)\s+)?(?:issues|problems|questions|bugs|requests|topics|matters|things|probleme|fehler|fragen|anliegen|themen|punkte|problèmes|questions|soucis|sujets|points|problemas|preguntas|incidencias|errores|cosas|temas)\b/;
/** "the following", "these issues", "folgende", "suivants", "siguientes": a plural intro. */
const PLURAL_INTRO = /\b(?:anomalies|dysfonctionnements|fehlfunktionen|errores|fallos|incidencias|the following|following (?:issues|problems|things|errors|bugs)|these (?:issues|problems|things|errors|bugs)|issues|problems|bugs|folgende\w*|nachfolgend\w*|diese probleme|probleme|suivant(?:e|s|es)|ces problèmes|problèmes|siguientes|estos problemas|problemas)\b/;
/** "an issue", "one problem", "ein Problem", "un problème", "un problema": one issue announced. */
const SINGULAR_INTRO = /\b(?:an|one|this|a|the same|ein(?:en)?|dieses|das|un|une|ce|cet|le|el|este|una)\s+(?:(?:[a-zà-ÿ-]+)\s+)?(?:issue|problem|bug|error|fehler|problème|souci|erreur|problema|fallo)\b(?![s-])/;

const PROBLEMS_NOUN = /\b(?:issues|problems|bugs|errors|defects|probleme|fehler|mängel|problèmes|anomalies|erreurs|bugs|problemas|errores|fallos|incidencias)\b/;

/** Headings under which enumerations are details of one issue, not separate issues. */
const DETAIL_HEADING = /(?:^|[^a-zà-ÿ])étapes|\b(?:steps?|reproduce|repro|str|environment|env|details?|setup|set-up|configuration|config|versions?|logs?|stack ?traces?|traces?|traceback|backtrace|output|what (?:i|we) (?:did|tried|have tried)|(?:i|we) (?:did|tried) the following|following steps|expected|actual|system info(?:rmation)?|specs?|specifications?|requirements|attempts?|workarounds?|symptoms?|error messages?|installed|components?|modules?|packages?|plugins?|affected|servers?|hosts?|machines?|users?|files?|attachments?|screenshots?|procedure|instructions?|how to|schritte|reproduktion|umgebung|systemumgebung|versionen|protokoll|was (?:ich|wir) (?:versucht|probiert)|einstellungen|environnement|journal|journaux|détails|ce que (?:j'ai|nous avons) essayé|pasos|entorno|versión|versiones|detalles|registro|lo que (?:he|hemos) probado|configuración)\b/;

function lastParagraph(text: string): string {
  const paras = text.split(/\n[ \t]{0,3}\n/).filter((p) => p.trim() !== '');
  return paras[paras.length - 1] ?? '';
}

function lastNonBlank(text: string): string {
  const ls = text.split('\n').filter((l) => !isBlank(l));
  return ls[ls.length - 1]?.trim() ?? '';
}

/** "Steps to reproduce:", "Here are the steps:", "Umgebung:", "I tried the following:". */
function isDetailHeading(fullLine: string): boolean {
  // Only the last sentence heads the list: "It does not connect. What I tried:".
  const line = fullLine.split(/[.!?]\s+/).pop() ?? '';
  if (line === '' || /\b(?:issues|problems|questions|bugs|probleme|problèmes|problemas)\b/i.test(line)) return false;
  const lead = line.split(/\s+/).slice(0, 5).join(' ');
  return DETAIL_HEADING.test(lc(lead)) && (/:\s*$/.test(line) || words(line) <= 6);
}

const GREETING = /^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|hallo|guten (?:tag|morgen)|sehr geehrte\w*|liebe\w*|bonjour|bonsoir|madame|monsieur|hola|buenos días|buenas tardes|estimad\w*|ciao|greetings|to whom it may concern)\b[^\n]{0,60}$/i;

// ---------------------------------------------------------------------------------------------
// Markers: list items of any style, labelled problems, ordinal paragraphs

type MarkerKind = 'ordered' | 'labelled' | 'ordinal' | 'bullet' | 'heading';

interface Marker {
  kind: MarkerKind;
  /** Items of one list share a style: "1.", "1)", "(a)", "i.", "-", "•" ... */
  style: string;
  n: number;
  indent: number;
  /** The item's own first line, enumerator removed. */
  rest: string;
  /** For "Finally," / "Lastly,": continues an ordinal run whatever its length. */
  last?: boolean;
}

const ROMAN: Record<string, number> = { i: 1, ii: 2, iii: 3, iv: 4, v: 5, vi: 6, vii: 7, viii: 8, ix: 9, x: 10 };

const ORDERED = /^([ \t]{0,40})(?:(\()?(\d{1,2}|[a-z]|[ivx]{1,4})([.)])(?![\d.])|#(\d{1,2})[.:)]?)[ \t]{1,8}(\S.*)$/i;
const LABEL_WORDS = 'issue|problem|question|request|bug|topic|item|point|error|matter|ticket|case|fehler|frage|punkt|thema|anliegen|problème|souci|sujet|point|problema|pregunta|punto|tema|incidencia|error';
const LABELLED = new RegExp(String.raw`^([ \t]{0,40})(?:#{1,6}[ \t]{1,4}|\*\*)?(?:the[ \t]{1,8})?(${LABEL_WORDS})[ \t]{0,3}(?:#|no\.?|nr\.?|n[°º]\.?)?[ \t]{0,3}(\d{1,2}|[A-Z])[ \t]{0,3}(?:[:.)\-–—]|$)[ \t]{0,3}(.*)$`, 'i');
const ORDINAL_WORDS: Record<string, number> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6,
  erstens: 1, zweitens: 2, drittens: 3, viertens: 4,
  premièrement: 1, deuxièmement: 2, troisièmement: 3, quatrièmement: 4,
  primero: 1, segundo: 2, tercero: 3, cuarto: 4,
  'en primer lugar': 1, 'en segundo lugar': 2, 'en tercer lugar': 3,
};
const ORDINAL = /^([ \t]{0,40})(?:the[ \t]{1,8})?(first|second|third|fourth|fifth|sixth|erstens|zweitens|drittens|viertens|premièrement|deuxièmement|troisièmement|quatrièmement|primero|segundo|tercero|cuarto|en primer lugar|en segundo lugar|en tercer lugar)(?:ly)?(?:[ \t]{1,8}(?:issue|problem|question|thing|point|topic|request|bug|one|matter))?(?:[ \t]{1,8}(?:is|was))?[ \t]{0,3}([:,.\-–—])?[ \t]{0,3}(.*)$/i;
const FINALLY = /^([ \t]{0,40})(?:finally|lastly|last but not least|and finally|last|schließlich|zuletzt|enfin|finalement|finalmente|por último)(?:[ \t]{1,8}(?:issue|problem|question|thing|point))?[ \t]{0,3}([:,\-–—])[ \t]{0,3}(.*)$/i;
/** A Markdown heading: each section under headings of one level is a segment. */
const HEADING = /^(#{1,6})[ \t]+(\S.*)$/;
/** Headings of a bug-report template: its sections are parts of one report. */
const TEMPLATE_HEADING = /\b(?:description|summary|overview|context|background|notes?|impact|priority|beschreibung|zusammenfassung|hintergrund|auswirkung|résumé|contexte|remarques?|descripción|resumen|contexto|notas?)\b/i;
const BULLET = /^([ \t]{0,40})([-*•–·▪◦‣o])[ \t]{1,8}(\S.*)$/;

function indentOf(s: string): number {
  let n = 0;
  for (const ch of s) n += ch === '\t' ? 4 : 1;
  return n;
}

function orderedValue(token: string): { n: number; family: string } {
  if (/^\d+$/.test(token)) return { n: Number(token), family: 'num' };
  const lower = token.toLowerCase();
  // "i" and multi-letter romans are roman; single other letters are alphabetic ("v." is rare as a fifth).
  if (lower.length > 1 || lower === 'i') return ROMAN[lower] !== undefined ? { n: ROMAN[lower]!, family: token === lower ? 'roman' : 'ROMAN' } : { n: 0, family: 'none' };
  return { n: lower.charCodeAt(0) - 96, family: token === lower ? 'alpha' : 'ALPHA' };
}

function markerOf(line: string): Marker | null {
  if (line.length > 4000) return null;
  let m = LABELLED.exec(line);
  if (m) {
    const v = /^\d+$/.test(m[3]!) ? Number(m[3]) : m[3]!.toUpperCase().charCodeAt(0) - 64;
    // "Problem A" needs an upper-case letter, "Issue a" is prose.
    if (/^[a-z]$/.test(m[3]!)) return null;
    return { kind: 'labelled', style: 'label', n: v, indent: indentOf(m[1]!), rest: m[4]!.trim() };
  }
  m = HEADING.exec(line);
  if (m) return { kind: 'heading', style: m[1]!, n: 0, indent: 0, rest: m[2]!.replace(/[\s#:]+$/, '').trim() };
  m = ORDERED.exec(line);
  if (m) {
    if (m[5] !== undefined) return { kind: 'ordered', style: '#', n: Number(m[5]), indent: indentOf(m[1]!), rest: m[6]!.trim() };
    const { n, family } = orderedValue(m[3]!);
    // A lone letter with a full stop is too often an initial ("J. Smith") to be a marker unless bracketed.
    if (n > 0 && !(family !== 'num' && m[4] === '.' && m[2] === undefined && /^[a-z]$/i.test(m[3]!) && m[3]!.toLowerCase() !== 'a' && m[3]!.toLowerCase() !== 'i' && m[3]!.toLowerCase() !== 'b')) {
      return { kind: 'ordered', style: `${m[2] ?? ''}${family}${m[4]}`, n, indent: indentOf(m[1]!), rest: m[6]!.trim() };
    }
  }
  m = ORDINAL.exec(line);
  if (m) {
    const hasNoun = /^(?:[ \t]{0,40})(?:the[ \t]{1,8})?\w+(?:ly)?[ \t]{1,8}(?:issue|problem|question|thing|point|topic|request|bug|one|matter)\b/i.test(line);
    // "First we installed ..." is a sentence; "First, ..." / "First issue: ..." / "Erstens ..." is a marker.
    const key = m[2]!.toLowerCase();
    const alwaysMarker = !/^(?:first|second|third|fourth|fifth|sixth|primero|segundo|tercero|cuarto)$/.test(key);
    if (hasNoun || m[3] || alwaysMarker) return { kind: 'ordinal', style: 'ordinal', n: ORDINAL_WORDS[key]!, indent: indentOf(m[1]!), rest: m[4]!.trim() };
  }
  m = FINALLY.exec(line);
  if (m) return { kind: 'ordinal', style: 'ordinal', n: 0, indent: indentOf(m[1]!), rest: m[3]!.trim(), last: true };
  m = BULLET.exec(line);
  if (m) return { kind: 'bullet', style: m[2]!, n: 0, indent: indentOf(m[1]!), rest: m[3]!.trim() };
  return null;
}

interface Candidate {
  kind: MarkerKind;
  starts: number[];
  indent: number;
  rests: string[];
}

/** Runs of labelled or ordinal markers numbered 1, 2, 3 ... (or A, B, C ...). */
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

/** Ordered lists of one style, nesting by indentation and by restarts right under a
 * "To reproduce:"-like line inside an item. A restart after a blank line begins a new list at
 * the same level (an environment list, then the problems list). */
function orderedLists(lines: string[], markers: Array<[number, Marker]>, style: string): Candidate[] {
  const top: Candidate[] = [];
  const stack: Array<{ c: Candidate; next: number }> = [];
  for (const [i, m] of markers) {
    if (m.kind !== 'ordered' || m.style !== style) continue;
    let placed = false;
    while (stack.length > 0 && !placed) {
      const t = stack[stack.length - 1]!;
      if (m.indent > t.c.indent + 1) {
        if (m.n === 1) stack.push({ c: { kind: 'ordered', starts: [i], indent: m.indent, rests: [m.rest] }, next: 2 });
        placed = true;
      } else if (m.n === t.next && m.indent >= t.c.indent - 1) {
        t.c.starts.push(i); t.c.rests.push(m.rest); t.next++;
        placed = true;
      } else if (m.n === 1 && Math.abs(m.indent - t.c.indent) <= 1) {
        const prev = i - 1;
        // Attached: the "To reproduce:" line runs on from the item; after a blank line it heads a new list.
        const attachedHeading = prev >= 1 && !isBlank(lines[prev]) && /:\s*$/.test(lines[prev]!) && prev > t.c.starts[t.c.starts.length - 1]!
          && markerOf(lines[prev]!) === null && !isBlank(lines[prev - 1]);
        if (attachedHeading) {
          stack.push({ c: { kind: 'ordered', starts: [i], indent: m.indent, rests: [m.rest] }, next: 2 });
          placed = true;
        } else {
          stack.length = 0;
        }
      } else {
        stack.pop();
      }
    }
    if (!placed && stack.length === 0 && m.n === 1) {
      const c: Candidate = { kind: 'ordered', starts: [i], indent: m.indent, rests: [m.rest] };
      top.push(c);
      stack.push({ c, next: 2 });
    }
  }
  return top.filter((c) => c.starts.length >= 2);
}

/** Sections under Markdown headings of one level, in a row. */
function headingRuns(markers: Array<[number, Marker]>): Candidate[] {
  const out: Candidate[] = [];
  let cur: Candidate | null = null;
  let curStyle = '';
  for (const [i, m] of markers) {
    if (m.kind !== 'heading') continue;
    if (cur && m.style === curStyle) { cur.starts.push(i); cur.rests.push(m.rest); continue; }
    if (cur && m.style.length > curStyle.length) continue; // a sub-heading belongs to its section
    cur = { kind: 'heading', starts: [i], indent: 0, rests: [m.rest] };
    curStyle = m.style;
    out.push(cur);
  }
  return out.filter((c) => c.starts.length >= 2);
}

/** Bullet runs of one style at one indent. A run ends at an unindented, non-bullet paragraph. */
function bulletRuns(markers: Array<[number, Marker]>, lines: string[]): Candidate[] {
  const out: Candidate[] = [];
  let cur: Candidate | null = null;
  let curStyle = '';
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
    if (cur && m.indent === cur.indent && m.style === curStyle && !interrupted) {
      cur.starts.push(i); cur.rests.push(m.rest);
    } else if (!cur || m.indent <= cur.indent || interrupted) {
      cur = { kind: 'bullet', starts: [i], indent: m.indent, rests: [m.rest] };
      curStyle = m.style;
      out.push(cur);
    }
    lastLine = i;
  }
  return out.filter((c) => c.starts.length >= 2);
}

const CLOSING = /^\s*(?:thanks|thank you|thx|many thanks|regards|kind regards|best regards|best|cheers|br|mfg|viele grüße|vielen dank|danke|beste grüße|freundliche grüße|mit freundlichen grüßen|gruß|cordialement|merci|bien à vous|salutations|saludos|gracias|un saludo|atentamente|greetings|sincerely|yours|please (?:advise|help|let us know|let me know|get back)|let (?:me|us) know|looking forward|we (?:appreciate|look forward)|any help|hope to hear|--\s*$|sent from)/i;

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
  // Labelled and ordinal items ("Problem 2 -" and its paragraph below) run on to the next blank
  // paragraph that is not their own description.
  const ownParagraphBelow = (c.kind === 'labelled' || c.kind === 'ordinal') && words(c.rests[c.rests.length - 1]!) === 0;
  let paragraphsSeen = 0;
  while (end < lines.length) {
    if (isBlank(lines[end])) {
      let next = end;
      while (next < lines.length && isBlank(lines[next])) next++;
      if (next >= lines.length) { end = next; break; }
      const nextLine = lines[next]!;
      // Deeper-indented paragraphs (and nested lists) continue the item; others are shared.
      if (indentOf(/^[ \t]{0,3}/.exec(nextLine)![0]) > c.indent && !CLOSING.test(nextLine)) { end = next + 1; continue; }
      // A heading's section runs on to the closing.
      if (c.kind === 'heading' && !CLOSING.test(nextLine)) { end = next + 1; continue; }
      if (ownParagraphBelow && paragraphsSeen === 0 && end === lastStart + 1 && !CLOSING.test(nextLine)) { paragraphsSeen++; end = next + 1; continue; }
      break;
    }
    if (CLOSING.test(lines[end]!)) break;
    end++;
  }
  items.push(lines.slice(lastStart, end).join('\n').trim());
  return { intro, items, closing: lines.slice(end).join('\n').trim() };
}

function itemBody(item: string, kind: MarkerKind): string {
  const first = item.split('\n', 1)[0]!;
  if (kind === 'heading') return item.split('\n').slice(1).join('\n');
  const m = markerOf(first);
  const rest = m ? m.rest : first.trim();
  const body = [rest, ...item.split('\n').slice(1)].join('\n');
  if (kind === 'ordinal') return stripConnective(body);
  return body;
}

/** "and unrelated," "und unabhängig davon," after an ordinal: the cue, not the description. */
function stripConnective(s: string): string {
  return s.replace(/^(?:and|und|et|y)?[ \t]*(?:unrelated(?: to that)?|separately|independently|unabhängig davon|sans rapport|indépendamment|sin relación|aparte)[ \t]*[,:\-–—]?[ \t]*/i, '');
}

// ---------------------------------------------------------------------------------------------
// The decision for one enumeration

interface Context {
  /** The writer counted the issues ("two problems") in the subject or the opening. */
  counted: boolean;
  /** The sentences holding the count (subject and opening), to tell "two problems" from "a few things". */
  countSentences: string;
}

/** Counts of anything, not of problems. */
const VAGUE_COUNT = /\b(?:things|points|topics|matters|requests|punkte|themen|anliegen|sujets|points|cosas|temas)\b/i;

/** Why this candidate is not a list of issues, or null when it is one. */
function rejection(c: Candidate, l: Layout, ctx: Context): string | null {
  const heading = lastNonBlank(l.intro);
  if (isDetailHeading(heading)) return 'detail heading';
  const introPara = lastParagraph(l.intro);
  const pluralIntro = ctx.counted || COUNT_PHRASE.test(lc(introPara)) || PLURAL_INTRO.test(lc(introPara));
  const labelled = c.kind === 'labelled';
  // A short heading naming problems ("Problems:", "Bekannte Fehler:") counts them like "two problems".
  const problemsHeading = /:\s*$/.test(heading) && words(heading) <= 4 && PROBLEMS_NOUN.test(lc(heading));
  const explicit = labelled || ctx.counted || COUNT_PHRASE.test(lc(introPara)) || problemsHeading;
  // A long list is an inventory or a log, unless the writer counts or labels its items as separate
  // issues ("we have 30 separate issues:"): then it splits, up to limits.maxCasesPerMessage.
  if (l.items.length > MAX_ITEMS && !explicit) return 'too many items';
  if (!explicit && !pluralIntro && SINGULAR_INTRO.test(lc(introPara))) return 'one issue announced';
  if (c.kind === 'heading' && c.rests.some((h) => TEMPLATE_HEADING.test(h) || DETAIL_HEADING.test(lc(h)))) return 'a report template';
  const judged = l.items.map((item) => judge(itemBody(item, c.kind)));
  if (judged.some((j) => j.data)) return 'data';
  const steps = judged.filter((j) => j.step).length;
  if (!labelled && steps * 2 >= judged.length) return 'steps';
  if (judged.some((j) => j.step && !labelled)) return 'a step among the items';
  // Questions about one feature stay together unless the writer labels each one.
  if (!labelled && judged.every((j) => j.question)) return 'questions about one thing';
  if (explicit) {
    // Counted or labelled: the writer says these are separate; items still need a description.
    // "A few things" or "two points" count anything (setup notes too): then each item must report.
    // "A few things are broken" says what the things are: the sentence with the count reports.
    const sentences = `${ctx.countSentences}\n${introPara}`.split(/(?<=[.!?:])\s+|\n/).filter((x) => COUNT_PHRASE.test(lc(x)));
    const vague = !labelled && sentences.length > 0
      && sentences.every((x) => VAGUE_COUNT.test(COUNT_PHRASE.exec(lc(x))![0]) && !reportsProblem(x));
    const described = (j: Judgement): boolean => j.words >= MIN_ITEM_WORDS_EXPLICIT && (j.report || j.question || (!vague && j.words >= MIN_ITEM_WORDS));
    return judged.every(described) ? null : vague ? 'things counted, not problems' : 'one-liner';
  }
  // From here only the markers say "several": the items must be independent problem reports.
  const bodies = l.items.map((item) => itemBody(item, c.kind).trim());
  if (bodies.slice(1).some((b) => ANAPHORA.test(lc(stripConnective(b))) || CONSEQUENCE.test(lc(b)))) return 'an item carries on from the one before';
  const bags = bodies.slice(0, 12).map(contentWords);
  for (let x = 0; x < bags.length; x++) for (let y = x + 1; y < bags.length; y++) if (sameProblem(bags[x]!, bags[y]!)) return 'the same problem in several items';
  // The markers are a cue of their own for ordered items: most must report a problem. Bullets are
  // a weaker cue (symptoms are listed that way too): every bullet must.
  const reports = judged.filter((j) => j.report && !j.question).length;
  if (c.kind === 'bullet' || c.kind === 'heading' ? reports < judged.length : reports * 2 < judged.length || reports === 0) return 'not enough items report a problem';
  // The line above is itself one symptom ("since the update the editor misbehaves:"): the items
  // are its symptoms, unless the writer introduces several ("we are seeing the following").
  const introJudged = judge(introPara.replace(GREETING, ''));
  if (!pluralIntro && introJudged.report && words(introPara) >= 3) return 'symptoms of the problem above';
  const min = c.kind === 'bullet' ? MIN_BULLET_WORDS : MIN_ITEM_WORDS;
  if (c.kind === 'bullet' && !pluralIntro) return 'bullets without an intro naming several';
  if (!judged.every((j) => j.words >= min)) return 'one-liner';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Prose: "Another problem ...", "Also, unrelated ...", "The other one ...", "P.S."

const ISSUE_NOUN = String.raw`(?:issue|problem|question|bug|thing|error|request|topic|matter|problem|fehler|anliegen|sache|thema|problème|souci|sujet|chose|erreur|problema|cuestión|asunto|error|cosa|tema)`;
/** Written in lower case and matched against a lower-cased opening: a case-insensitive
 * pattern this size took tens of milliseconds to compile on a process's first message. */
const INTRODUCER = new RegExp([
  // "Another issue", "Also, there is a second problem", "One more thing"
  String.raw`^\s*(?:(?:also|additionally|and|besides|furthermore|moreover|in addition|plus|apart from that|secondly|next)[,:]?\s+)?(?:(?:there is|there's|we have|we've got|i have|i've got|we also have|i also have|we see|we noticed|there is also)\s+)?(?:another|a second|the second|the other|one more|a further|a separate|an additional|also an?|a different)\s+(?:\w+\s+)?${ISSUE_NOUN}\b`,
  String.raw`^\s*(?:also|additionally|in addition|furthermore|moreover|secondly|apart from that)[,:]?\s+[^\n]*?\b(?:second|another|other|separate|unrelated|different)\s+(?:\w+\s+)?${ISSUE_NOUN}\b`,
  // "Also, unrelated:", "Unrelated to that,", "Separately,", "The other one is"
  String.raw`^\s*(?:(?:also|and|but)[,:]?\s+)?(?:unrelated|on an unrelated note|separately|independently of this|on a different note)\b`,
  String.raw`^\s*the other (?:one|thing|${ISSUE_NOUN})\b`,
  // German
  String.raw`^\s*(?:(?:außerdem|zudem|zusätzlich|dann)[,:]?\s+)?(?:(?:gibt es|haben wir|habe ich)\s+)?(?:noch\s+)?(?:ein(?:e|en)?\s+)?(?:weitere[sn]?|anderes?|zweites?)\s+(?:[a-zà-ÿ]+\s+)?${ISSUE_NOUN}\b`,
  String.raw`^\s*(?:(?:außerdem|und)[,:]?\s+)?(?:unabhängig davon|davon unabhängig|ganz anderes thema|noch etwas anderes)\b`,
  String.raw`^\s*(?:das|der) (?:andere|zweite) (?:${ISSUE_NOUN}|punkt)\b`,
  // French
  String.raw`^\s*(?:(?:aussi|également|par ailleurs|de plus|en outre)[,:]?\s+)?(?:(?:il y a|nous avons|j'ai)\s+)?(?:un|une)\s+(?:autre|deuxième|second|seconde)\s+(?:${ISSUE_NOUN})\b`,
  String.raw`^\s*(?:autre (?:problème|souci|chose|sujet)|sans rapport|par ailleurs,? (?:sans rapport|autre chose)|l'autre (?:problème|souci))\b`,
  // Spanish
  String.raw`^\s*(?:(?:también|además|aparte)[,:]?\s+)?(?:(?:hay|tenemos|tengo)\s+)?(?:otro|otra|un segundo|una segunda)\s+(?:${ISSUE_NOUN})\b`,
  String.raw`^\s*(?:(?:además|también)[,:]?\s+)?(?:sin relación|no relacionado|por otro lado|aparte de eso|el otro problema|la otra cuestión)\b`,
].join('|'));
const POSTSCRIPT = /^\s*p\.?\s?p?\.?\s?s\.?\s*[:\-–—]?\s+/i;
/** A P.S. that is about the mail, not a new problem. */
const PS_ABOUT_MAIL = /\b(?:attach\w*|screenshot\w*|log files?|urgent|dringend|anbei|anhang|ci-joint|pièce jointe|urgente?|adjunt\w*|captura)\b/i;

/** Paragraphs, where a cue paragraph starts a new issue; the earlier issue is what precedes it. */
function proseSplit(lines: string[], ctx: Context): IssuePart[] | null {
  const paras = lines.join('\n').split(/\n[ \t]{0,3}\n/).map((p) => p.trim()).filter((p) => p !== '');
  const intros: number[] = [];
  /** Whether a cue names an issue ("another problem"): then it presupposes the text before is one. */
  const named: boolean[] = [];
  let postscripts = 0;
  for (let i = 1; i < paras.length && intros.length < MAX_ITEMS; i++) {
    const p = paras[i]!;
    // Only the opening can introduce; a bounded window keeps the lazy scan short.
    if (INTRODUCER.test(p.slice(0, 160).toLowerCase())) { intros.push(i); named.push(NOUN_NEAR.test(p.slice(0, 100))); continue; }
    // An afterthought that is a new problem of its own: self-contained, not about the mail.
    // A mail has one or two of them; more is not a letter (and each costs a judgement).
    const ps = POSTSCRIPT.exec(p);
    if (ps && ++postscripts <= 3) {
      const body = p.slice(ps[0].length);
      const j = judge(body);
      if (j.report && !j.question && j.words >= MIN_ITEM_WORDS && !ANAPHORA.test(lc(body)) && !PS_ABOUT_MAIL.test(body)) { intros.push(i); named.push(false); }
    }
  }
  if (intros.length === 0 || intros.length >= MAX_ITEMS) return null;
  let start = 0;
  while (start < paras.length && (GREETING.test(paras[start]!) || (COUNT_PHRASE.test(lc(paras[start]!)) && words(paras[start]!) <= 25))) start++;
  if (start >= intros[0]!) return null;
  let end = paras.length;
  while (end - 1 > intros[intros.length - 1]! && CLOSING.test(paras[end - 1]!)) end--;
  const intro = paras.slice(0, start).join('\n\n');
  const closing = paras.slice(end).join('\n\n');
  const bounds = [start, ...intros, end];
  const parts: IssuePart[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const own = paras.slice(bounds[k], bounds[k + 1]).join('\n\n');
    const body = k === 0 ? own : stripIntroducer(own);
    const j = judge(body);
    // The cue paragraph names a separate issue; the text must still describe one.
    if (j.words < MIN_ITEM_WORDS || j.data) return null;
    // A part needs to report a problem unless a cue names it one: "Another problem: ..." names
    // its own part and the one before it.
    const namedHere = ctx.counted || (k > 0 ? named[k - 1]! : named[0]!);
    if (!j.report && !namedHere && !(ctx.counted && j.question)) return null;
    parts.push({ title: titleOf(body, own, 'ordered'), text: compose([intro, own, closing]) });
  }
  return parts.length >= 2 ? parts : null;
}

const INTRODUCER_HEAD = new RegExp(String.raw`^[^\n]{0,80}?\b${ISSUE_NOUN}\b(?:\s+(?:is|was|ist|est|es))?(?:\s+(?:that|dass|que))?\s*[:,\-–—]?\s*`, 'i');
const NOUN_NEAR = new RegExp(String.raw`\b${ISSUE_NOUN}\b`, 'i');

function stripIntroducer(p: string): string {
  const ps = POSTSCRIPT.exec(p);
  if (ps) return p.slice(ps[0].length);
  const noun = INTRODUCER_HEAD.exec(p);
  const connective = /^\s*(?:(?:also|and|but|außerdem|und)[,:]?\s+)?(?:unrelated(?: to that)?|on an unrelated note|separately|unabhängig davon|davon unabhängig|sans rapport|par ailleurs|sin relación|no relacionado|por otro lado|aparte de eso)\s*[:,\-–—]?\s*/i.exec(p);
  const m = noun ?? connective;
  const rest = m ? p.slice(m[0].length) : p;
  return words(rest) >= 2 ? rest : p;
}

// ---------------------------------------------------------------------------------------------
// Titles and texts

function titleOf(rest: string, item: string, kind: MarkerKind): string {
  let t = kind === 'ordinal' ? stripConnective(rest) : rest;
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

/** "First, X fails. Second, and unrelated, Y hangs." in one paragraph: each ordinal sentence on
 * its own line, so the ordinals are markers like any other. Only when a paragraph opens with one. */
function breakOrdinalSentences(lines: string[]): string[] {
  const opener = /^\s*(?:first(?:ly)?|erstens|premièrement|en primer lugar|primero)\s*[,:]/i;
  if (!lines.some((l) => opener.test(l))) return lines;
  const out: string[] = [];
  for (const line of lines) {
    if (line.length > 2000) { out.push(line); continue; }
    out.push(...line.split(/(?<=[.!?])[ \t]+(?=(?:second(?:ly)?|third(?:ly)?|fourth(?:ly)?|finally|lastly|zweitens|drittens|schließlich|deuxièmement|troisièmement|enfin|en segundo lugar|en tercer lugar|segundo|tercero|por último)\s*[,:])/i));
  }
  return out;
}

/** Candidate enumerations nested inside an item of another enumeration are that item's detail. */
function isNested(c: Candidate, all: Candidate[]): boolean {
  return all.some((o) => o !== c && o.indent < c.indent && o.starts[0]! < c.starts[0]! && o.starts[o.starts.length - 1]! > c.starts[c.starts.length - 1]!);
}

/** The reasons each enumeration was turned down, for tests and for tuning. */
export function explainSplit(subject: string, text: string): string[] {
  const reasons: string[] = [];
  splitWith(subject, text, reasons);
  return reasons;
}

export function splitIssues(subject: string, text: string): IssuePart[] {
  return splitWith(subject, text, null);
}

function splitWith(subject: string, text: string, reasons: string[] | null): IssuePart[] {
  const single: IssuePart[] = [{ title: subject, text }];
  if (text.length > MAX_SPLIT_CHARS || isReply(subject, text)) { reasons?.push('reply or too long'); return single; }
  const lines = breakOrdinalSentences(text.replace(/\r\n?/g, '\n').split('\n'));
  const markers: Array<[number, Marker]> = [];
  lines.forEach((line, i) => {
    const m = markerOf(line);
    if (m) markers.push([i, m]);
  });
  // The opening (first three paragraphs) is where a writer counts what follows.
  const opening = lines.slice(0, 60).join('\n').split(/\n[ \t]{0,3}\n/).slice(0, 3).join('\n\n');
  // A count phrase inside one of the opening's sentences is one inside the opening too (the
  // pieces are cut at whitespace, so \b and the letters around a match are the same): when the
  // whole opening holds none, no sentence does and it need not be cut up.
  const countSentences = COUNT_PHRASE.test(lc(opening))
    ? [subject, ...opening.split(/(?<=[.!?:])\s+|\n/)].filter((x) => COUNT_PHRASE.test(lc(x))).join('\n')
    : COUNT_PHRASE.test(lc(subject)) ? subject : '';
  const ctx: Context = { counted: countSentences !== '', countSentences };

  const styles = [...new Set(markers.filter(([, m]) => m.kind === 'ordered').map(([, m]) => m.style))];
  const all = [
    ...sequentialRuns(markers, 'labelled'),
    ...sequentialRuns(markers, 'ordinal'),
    ...styles.flatMap((s) => orderedLists(lines, markers, s)),
    ...bulletRuns(markers, lines),
    ...headingRuns(markers),
  ];
  // Outermost first, in reading order: the top level decides. An enclosing list starts before
  // what it encloses, so the nesting check only needs the first few (and stays linear).
  const first = all.sort((a, b) => a.starts[0]! - b.starts[0]!).slice(0, MAX_CANDIDATES * 8);
  const candidates = first.filter((c) => !isNested(c, first));
  for (const c of candidates.slice(0, MAX_CANDIDATES)) {
    const l = layout(lines, c);
    const why = rejection(c, l, ctx);
    if (why !== null) { reasons?.push(`${c.kind} at line ${c.starts[0]! + 1}: ${why}`); continue; }
    return l.items.map((item, k) => ({
      title: titleOf(c.rests[k]!, item, c.kind),
      text: compose([l.intro, item, l.closing]),
    }));
  }
  return proseSplit(lines, ctx) ?? single;
}
