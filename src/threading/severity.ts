// Severity suggestion from a new request's subject and text (spec section 2); default 3.
// An explicit marker ("Severity 1", "Sev 2", "S1", "P1", "priority: urgent") wins, subject
// before text; otherwise the strongest impact phrase ("production down", "outage", "critical"
// -> 1; "degraded", "intermittent" -> 2). A negation or "planned" just before a phrase cancels it.
// An engineer validates every suggestion, so it may err, but reasons always say what matched.

export type Severity = 1 | 2 | 3;

export interface SeveritySuggestion {
  suggested: Severity;
  reasons: string[];
}

const MAX_TEXT_CHARS = 32 * 1024;

/** Words for levels after "priority:" / "severity:" / "urgency:". "high" is 2, not 1: sev 1 is
 * reserved for production down, and customers call most of their requests high priority. */
const LEVEL_WORDS: Record<string, Severity> = {
  critical: 1, urgent: 1, emergency: 1, highest: 1, blocker: 1, showstopper: 1,
  high: 2, major: 2, medium: 2, moderate: 2, important: 2,
  normal: 3, low: 3, lowest: 3, minor: 3, trivial: 3,
};

const EXPLICIT: ReadonlyArray<{ re: RegExp; level: (m: RegExpExecArray) => Severity | null }> = [
  // "Severity 1", "Sev 2", "Sev-1", "SEV1", "severity: 2", "Severity Level 1"
  { re: /(?<![\p{L}\p{N}])sev(?:erity)?(?:[ \t]{0,3}level)?[ \t]{0,3}[:=#-]?[ \t]{0,3}([1-4])(?![\p{N}.])/iu, level: (m) => clamp(Number(m[1])) },
  // "S1", "S2" as a token; "S3" is left out on purpose: it is mostly Amazon S3, and 3 is the default.
  { re: /(?<![\p{L}\p{N}/.-])S([12])(?![\p{L}\p{N}.])/u, level: (m) => clamp(Number(m[1])) },
  // "P1", "P2", "P3/P4"; "Prio 1", "Priority 1", "priority: 2"
  { re: /(?<![\p{L}\p{N}/.-])P([1-5])(?![\p{L}\p{N}.])/u, level: (m) => clamp(Number(m[1])) },
  { re: /(?<![\p{L}\p{N}])prio(?:rity)?[ \t]{0,3}[:=#-]?[ \t]{0,3}([1-5])(?![\p{N}.])/iu, level: (m) => clamp(Number(m[1])) },
  // "priority: high", "Priority - Urgent", "severity: critical", "urgency: high"
  {
    re: /(?<![\p{L}\p{N}])(?:prio(?:rity)?|severity|urgency|impact)[ \t]{0,3}(?:[:=-]|is)[ \t]{0,3}(?:very[ \t]{1,3})?([a-z]+)/iu,
    level: (m) => LEVEL_WORDS[m[1]!.toLowerCase()] ?? null,
  },
  // "High priority", "URGENT priority", "critical severity"
  { re: /(?<![\p{L}\p{N}])(critical|urgent|highest|high|medium|low)[ \t]{1,3}(?:prio(?:rity)?|severity)\b/iu, level: (m) => LEVEL_WORDS[m[1]!.toLowerCase()] ?? null },
];

const PHRASE_LIST: ReadonlyArray<{ re: RegExp; level: Severity; label: string }> = [
  { re: /\b(?:production|prod|live)(?:[ \t]{1,3}(?:system|server|environment|site|instance))?[ \t]{1,3}(?:is[ \t]{1,3}|went[ \t]{1,3}|has[ \t]{1,3}gone[ \t]{1,3})?(?:down|offline|unavailable|halted|stopped|not working|inoperable)\b/i, level: 1, label: 'production down' },
  { re: /\b(?:system|service|server|site|website|application|platform|database|cluster)[ \t]{1,3}(?:is[ \t]{1,3}|went[ \t]{1,3}|has[ \t]{1,3}gone[ \t]{1,3})?(?:completely[ \t]{1,3})?(?:down|offline|inoperable)\b/i, level: 1, label: 'system down' },
  { re: /\boutage\b/i, level: 1, label: 'outage' },
  { re: /\bcritical\b/i, level: 1, label: 'critical' },
  { re: /\b(?:emergency|showstopper|show-stopper)\b/i, level: 1, label: 'emergency' },
  { re: /\b(?:nobody|no[ \t]{1,3}one|none of (?:our|the) users)[ \t]{1,3}can[ \t]{1,3}(?:log[ \t]?in|work|access)\b/i, level: 1, label: 'no one can work' },
  { re: /\b(?:operations?|business|production)[ \t]{1,3}(?:are[ \t]{1,3}|is[ \t]{1,3})?(?:halted|stopped|at a standstill)\b/i, level: 1, label: 'operations halted' },
  { re: /\bdata[ \t]{1,3}(?:loss|corruption)\b/i, level: 1, label: 'data loss' },
  { re: /\burgent(?:ly)?\b/i, level: 2, label: 'urgent' },
  { re: /\bdegraded\b|\bdegradation\b/i, level: 2, label: 'degraded' },
  { re: /\bintermittent(?:ly)?\b/i, level: 2, label: 'intermittent' },
  { re: /\b(?:very|extremely|really)[ \t]{1,3}slow\b|\bperformance[ \t]{1,3}(?:problem|issue)s?\b/i, level: 2, label: 'performance' },
  { re: /\b(?:major|significant|high|severe)[ \t]{1,3}impact\b/i, level: 2, label: 'major impact' },
  { re: /\bseveral[ \t]{1,3}users[ \t]{1,3}(?:cannot|can't|are unable)\b/i, level: 2, label: 'users blocked' },
];

/** The phrases as global regexes, compiled once (matchAll needs the g flag). */
const PHRASES = PHRASE_LIST.map((p) => ({ ...p, re: new RegExp(p.re.source, `${p.re.flags}g`) }));

/** A word at most one word before a match that turns it around: "not critical", "no outage",
 * "non-critical", "planned outage", "not really urgent"; "no idea why production is down" stays. */
const NEGATION_BEFORE = /(?:\b(?:not|no|never|without|less|planned|scheduled|maintenance|partial|if|avoid|prevent|nothing|non)|n't|in case of)(?:[ \t]{1,3}[\w'-]+)?[ \t-]*$/i;

/**
 * Pre-filters, each a necessary condition for its group of patterns, with the group's flags so
 * case folding is the same (under /iu "ſ" matches "s"): every EXPLICIT pattern contains "sev",
 * "prio", "urgency", "impact" or a case-sensitive "S1"/"S2"/"P1".."P5" (which /iu also accepts),
 * and every PHRASE_LIST pattern contains one of EXPLICIT_HINT's or PHRASE_HINT's alternatives
 * (for "production down" and "system down" the final state word; for "no one can work" the
 * "can work" part; for "data loss" its noun). A text neither matches gets no marker and no phrase,
 * so one scan replaces six or fourteen.
 */
const EXPLICIT_HINT = /sev|prio|urgency|impact|S[12]|P[1-5]/iu;
const PHRASE_HINT = /down|offline|inoperable|unavailable|halted|stopped|not working|outage|critical|emergency|showstopper|show-stopper|can[ \t]{1,3}(?:log|work|access)|standstill|loss|corruption|urgent|degrad|intermittent|slow|performance|impact|several[ \t]{1,3}users/i;

function clamp(n: number): Severity {
  return n <= 1 ? 1 : n === 2 ? 2 : 3;
}

function negated(text: string, index: number): boolean {
  return NEGATION_BEFORE.test(text.slice(Math.max(0, index - 24), index));
}

function scannable(text: string): string {
  const capped = text.length > MAX_TEXT_CHARS ? text.slice(0, MAX_TEXT_CHARS) : text;
  // No '>' at all: no line is quoted, and splitting and joining again gives the same string.
  if (!capped.includes('>')) return capped;
  // Quoted history says what someone else once wrote, not what this request is about.
  return capped.split('\n').filter((l) => !/^\s*>/.test(l)).join('\n');
}

function explicitIn(text: string): { level: Severity; match: string } | null {
  if (!EXPLICIT_HINT.test(text)) return null;
  let best: { level: Severity; match: string; at: number } | null = null;
  for (const { re, level } of EXPLICIT) {
    const m = re.exec(text);
    if (!m || negated(text, m.index)) continue;
    const l = level(m);
    if (l === null) continue;
    // The earliest marker in the text is what the writer led with.
    if (!best || m.index < best.at) best = { level: l, match: m[0].trim(), at: m.index };
  }
  return best;
}

export function suggestSeverity(subject: string, text: string): SeveritySuggestion {
  const body = scannable(text);
  for (const [where, t] of [['subject', subject.slice(0, 1000)], ['text', body]] as const) {
    const explicit = explicitIn(t);
    if (explicit) return { suggested: explicit.level, reasons: [`explicit "${explicit.match}" in ${where}`] };
  }

  // Where PHRASE_HINT finds nothing no phrase can match: those texts are not scanned.
  const texts = ([['subject', subject], ['text', body]] as const).filter(([, t]) => PHRASE_HINT.test(t));
  if (texts.length === 0) return { suggested: 3, reasons: ['default'] };
  let suggested: Severity = 3;
  const reasons: string[] = [];
  for (const { re, level, label } of PHRASES) {
    for (const [where, t] of texts) {
      for (const m of t.matchAll(re)) {
        if (negated(t, m.index ?? 0)) continue;
        if (level < suggested) suggested = level;
        if (level <= suggested) reasons.push(`"${label}" in ${where}`);
        break;
      }
    }
  }
  const kept = reasons.filter((r) => PHRASES.some((p) => p.level === suggested && r.startsWith(`"${p.label}"`)));
  return kept.length > 0 ? { suggested, reasons: [...new Set(kept)] } : { suggested: 3, reasons: ['default'] };
}
