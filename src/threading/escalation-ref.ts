// The case numbers an escalation names (spec section 7): the bracketed case tag ("[Case #100042]")
// and looser mentions ("case 100042", "#100042", "ticket 100042", "Incident# 100042"), in the
// subject and the new (unquoted) body text. A tag is a key on its own; a loose mention is only a
// candidate the intake checks against the sender's cases (intake-facts.ts). Pure.

export interface EscalationRefs {
  /** Numbers in a bracketed case tag, subject first. */
  tagged: number[];
  /** Every number mentioned (tags included), in order of appearance, subject first. */
  mentioned: number[];
}

/** At most this many numbers are looked up: a pasted list of order numbers is not ten escalations. */
export const MAX_ESCALATION_REFS = 10;
const MAX_TEXT_CHARS = 64 * 1024;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function keywords(prefixes: readonly string[]): string {
  const words = [...new Set(['case', 'incident', 'ticket', ...prefixes.map((p) => p.trim().replace(/[\s#:-]+$/, '')).filter(Boolean)])];
  return words.sort((a, b) => b.length - a.length).map(escape).join('|');
}

function unquoted(body: string): string {
  return body.slice(0, MAX_TEXT_CHARS).split('\n').filter((l) => !/^\s*>/.test(l)).join('\n');
}

export function escalationRefs(subject: string, body: string, prefixes: readonly string[]): EscalationRefs {
  const words = keywords(prefixes);
  const tag = new RegExp(`\\[\\s*(?:${words})[ \\t]*(?:#|-|:)?[ \\t]*(\\d{4,10})\\s*\\]`, 'giu');
  // "case 100042" needs 5 digits (no "in case 300 users"); "#100042" alone needs 5 and no word
  // before the sign ("issue#12345" is someone else's tracker).
  const loose = new RegExp(
    `(?<![\\p{L}\\p{N}_])(?:(?:${words})[ \\t]{0,3}(?:#|-|:|n(?:o|r|um(?:ber)?)\\.?)?[ \\t]{0,3}|#)(\\d{5,10})(?![\\p{L}\\p{N}_]|[.,]\\d)`,
    'giu',
  );
  const texts = [subject.slice(0, 2000), unquoted(body)];
  const tagged: number[] = [];
  const mentioned: number[] = [];
  const add = (list: number[], n: number) => { if (!list.includes(n) && list.length < MAX_ESCALATION_REFS) list.push(n); };
  for (const text of texts) {
    for (const m of text.matchAll(tag)) add(tagged, Number(m[1]));
    for (const m of text.matchAll(loose)) add(mentioned, Number(m[1]));
  }
  for (const n of tagged) if (!mentioned.includes(n)) mentioned.unshift(n);
  return { tagged, mentioned: mentioned.slice(0, MAX_ESCALATION_REFS) };
}
