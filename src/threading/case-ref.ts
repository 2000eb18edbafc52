// Finding a case number in a subject or body: "[Case #100042]", "Case#100042", "case 100042",
// "CASE-100042", "Incident# 100042" and the configured prefix, in any letter case.
// Rules the spec leaves open: the subject wins over the body; in the body, `>`-quoted lines are
// ignored (quoted history may name older cases; replies are threaded by their headers anyway);
// the first mention wins, except that a bracketed tag beats a bare mention in the same text.
// A number needs at least 5 digits after a bare keyword ("case 10042") and 4 after an explicit
// marker ("#", "-", ":", "No.") so that "in case 2 of them fail" or "in case 300 users log in" is
// no reference; our sequence starts at 100000. At most 10 digits.

export interface CaseRef {
  number: number;
  source: 'subject' | 'body';
}

/** Keywords every deployment understands, on top of the configured prefixes. */
const BUILT_IN = ['case', 'incident'];
/** A reference in the body is looked for in its first 64 KB: beyond that lies pasted output, not a reference. */
const MAX_BODY_CHARS = 64 * 1024;

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One matcher per keyword set; group 1 = explicit marker (may be empty), group 2 = digits. */
function buildPattern(prefixes: readonly string[]): RegExp {
  const words = [...new Set([...BUILT_IN, ...prefixes.map((p) => p.trim().replace(/[\s#:-]+$/, '')).filter((p) => p !== '')])]
    .sort((a, b) => b.length - a.length)
    .map(escape);
  // Lookbehind keeps "showcase 12345" and "TestCase-12345" from matching; the trailing lookahead
  // keeps a longer number or an identifier ("case 12345abc") whole.
  return new RegExp(
    `(?<![\\p{L}\\p{N}_])(?:${words.join('|')})[ \\t]{0,3}(#|-|:|n(?:o|r|um(?:ber)?)\\.?|)[ \\t]{0,3}(\\d{4,10})(?![\\p{L}\\p{N}_]|[.,]\\d)`,
    'giu',
  );
}

/** The last keyword set and its matcher: every message of a deployment asks with the same
 * prefixes, and building the pattern (sorting, escaping, compiling) cost more than using it. */
let cached: { key: string; pattern: RegExp } | null = null;

function patternFor(prefixes: readonly string[]): RegExp {
  const key = JSON.stringify(prefixes);
  if (cached === null || cached.key !== key) cached = { key, pattern: buildPattern(prefixes) };
  return cached.pattern;
}

function firstIn(text: string, pattern: RegExp): number | null {
  let bare: number | null = null;
  pattern.lastIndex = 0;
  for (const m of text.matchAll(pattern)) {
    const marker = m[1] ?? '';
    const digits = m[2]!;
    if (marker === '' && digits.length < 5) continue;
    const start = m.index ?? 0;
    const bracketed = text[start - 1] === '[' || text[start - 1] === '(';
    if (bracketed) return Number(digits);
    bare ??= Number(digits);
  }
  return bare;
}

function unquoted(body: string): string {
  const capped = body.length > MAX_BODY_CHARS ? body.slice(0, MAX_BODY_CHARS) : body;
  // No '>' at all: no line is quoted, and splitting and joining again gives the same string.
  if (!capped.includes('>')) return capped;
  return capped
    .split('\n')
    .filter((line) => !/^\s*>/.test(line))
    .join('\n');
}

export function findCaseRef(subject: string, body: string, prefixes: readonly string[]): CaseRef | null {
  const pattern = patternFor(prefixes);
  const inSubject = firstIn(subject.slice(0, 2000), pattern);
  if (inSubject !== null) return { number: inSubject, source: 'subject' };
  const inBody = firstIn(unquoted(body), pattern);
  return inBody !== null ? { number: inBody, source: 'body' } : null;
}
