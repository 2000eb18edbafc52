// The command block at the top of an engineer's reply (spec section 5): `#severity 2`, `#need-info`,
// … one per line, blank lines allowed between them; the first other line starts the body.
// Pure: takes extractReply's visibleText (quoted history already removed), returns a tagged union.
// Commands apply all together or not at all, so any bad or conflicting line fails the whole parse.

export type EngineerCommand =
  | { kind: 'severity'; severity: 1 | 2 | 3 }
  | { kind: 'need-info' } | { kind: 'resolved' } | { kind: 'close' } | { kind: 'open' }
  | { kind: 'assign'; to: 'me' | string /* lower-cased address */ }
  | { kind: 'note' }
  | { kind: 'merge'; caseNumber: number };

export type CommandParse =
  /** `commands` has one entry per command line, in order; `body` is the text after them, leading blank lines dropped. */
  | { ok: true; commands: EngineerCommand[]; body: string }
  /** `lineNumber` is 1-based in visibleText; `line` is the offending line as written (trimmed, at most 200 characters). */
  | { ok: false; line: string; lineNumber: number; problem: string };

export const VALID_COMMANDS: readonly string[] = Object.freeze([
  '#severity 1|2|3', '#need-info', '#resolved', '#close', '#open', '#assign <address|me>', '#note', '#merge <case number>',
]);

type StateKind = 'need-info' | 'resolved' | 'close' | 'open';
const STATE_KINDS: ReadonlySet<string> = new Set<StateKind>(['need-info', 'resolved', 'close', 'open']);

/**
 * Accepted spellings. `#sev` is accepted because engineers abbreviate it in a hurry and it cannot
 * mean anything else; `#needinfo` / `#need_info` likewise. Nothing else is guessed: an unknown
 * name must be an error, not a silently different command.
 */
const NAMES: Readonly<Record<string, EngineerCommand['kind']>> = {
  severity: 'severity', sev: 'severity',
  'need-info': 'need-info', needinfo: 'need-info', need_info: 'need-info',
  resolved: 'resolved', close: 'close', open: 'open', assign: 'assign', note: 'note', merge: 'merge',
};

/** A line shown back to the engineer: one line, not a pasted log. */
const MAX_LINE_ECHO = 200;

// `#` directly followed by a letter is a command candidate; `#1 is the cause` or `# Heading` is text.
// The name runs to whitespace or a colon, so `#severity: 2` and `#severity:2` read like `#severity 2`.
const COMMAND_LINE = /^#([a-z][^\s:]*)\s*(?::\s*)?(.*)$/i;
// Deliberately simple: one @, no spaces or brackets, a dot in the domain. The directory lookup
// that follows decides whether the engineer exists; this only rejects what is not an address.
const ADDRESS = /^[^\s@<>(),;:"[\]]+@[^\s@<>(),;:"[\]]+\.[^\s@<>(),;:"[\]]+$/;
const MAX_CASE_NUMBER_DIGITS = 12;

type LineResult = { ok: true; command: EngineerCommand } | { ok: false; problem: string };

function parseCommand(name: string, arg: string): LineResult {
  const kind = NAMES[name.toLowerCase()];
  if (kind === undefined) return { ok: false, problem: 'unknown command' };
  switch (kind) {
    case 'severity': {
      if (arg === '') return { ok: false, problem: '#severity needs a level: 1, 2 or 3' };
      if (arg !== '1' && arg !== '2' && arg !== '3') return { ok: false, problem: `severity must be 1, 2 or 3, not "${arg}"` };
      return { ok: true, command: { kind, severity: Number(arg) as 1 | 2 | 3 } };
    }
    case 'assign': {
      if (arg === '') return { ok: false, problem: '#assign needs an address or "me"' };
      if (arg.toLowerCase() === 'me') return { ok: true, command: { kind, to: 'me' } };
      const address = arg.startsWith('<') && arg.endsWith('>') ? arg.slice(1, -1).trim() : arg;
      if (!ADDRESS.test(address)) return { ok: false, problem: `#assign needs an address or "me", not "${arg}"` };
      return { ok: true, command: { kind, to: address.toLowerCase() } };
    }
    case 'merge': {
      if (arg === '') return { ok: false, problem: '#merge needs a case number' };
      const digits = arg.startsWith('#') ? arg.slice(1) : arg;
      if (!/^\d+$/.test(digits) || digits.length > MAX_CASE_NUMBER_DIGITS || Number(digits) === 0) {
        return { ok: false, problem: `#merge needs a case number, not "${arg}"` };
      }
      return { ok: true, command: { kind, caseNumber: Number(digits) } };
    }
    default:
      // An argument on a command that takes none is probably a mistyped line; applying the command
      // and ignoring the rest could do something the engineer did not mean.
      if (arg !== '') return { ok: false, problem: `#${kind} takes no argument` };
      return { ok: true, command: { kind } };
  }
}

/** Why `next` cannot go with the commands already accepted, or null. */
function conflict(accepted: readonly EngineerCommand[], next: EngineerCommand): string | null {
  const label = (c: EngineerCommand): string => `#${c.kind}`;
  for (const c of accepted) {
    if (STATE_KINDS.has(c.kind) && STATE_KINDS.has(next.kind) && c.kind !== next.kind) {
      return `conflicting commands: ${label(c)} and ${label(next)} set different states`;
    }
    if (c.kind === next.kind && (c.kind === 'severity' || c.kind === 'assign' || c.kind === 'merge')) {
      return `conflicting commands: ${label(next)} given twice`;
    }
    // A merge closes this case and moves everything into the target; anything else changing this
    // case at the same time would be undone or meaningless, so it belongs in the target case.
    const merge = c.kind === 'merge' ? c : next.kind === 'merge' ? next : null;
    const other = merge === c ? next : c;
    if (merge && other.kind !== 'merge' && other.kind !== 'note') {
      return `conflicting commands: #merge cannot be combined with ${label(other)} (give it in the target case)`;
    }
  }
  return null;
}

export function parseEngineerCommands(visibleText: string): CommandParse {
  const lines = visibleText.replace(/\r\n?/g, '\n').split('\n');
  const commands: EngineerCommand[] = [];
  let i = 0;
  for (; i < lines.length; i++) {
    const raw = lines[i] as string;
    const trimmed = raw.trim();
    if (trimmed === '') continue;
    const m = COMMAND_LINE.exec(trimmed);
    if (!m) break;
    const fail = (problem: string): CommandParse =>
      ({ ok: false, line: trimmed.slice(0, MAX_LINE_ECHO), lineNumber: i + 1, problem });
    const parsed = parseCommand(m[1] as string, (m[2] as string).trim());
    if (!parsed.ok) return fail(parsed.problem);
    const why = conflict(commands, parsed.command);
    if (why) return fail(why);
    // One entry per command line, repeats included (`#close` twice is harmless, applied once):
    // commands.length is then the number of lines relayHtml must cut from the top of the HTML.
    commands.push(parsed.command);
  }
  return { ok: true, commands, body: lines.slice(i).join('\n') };
}
