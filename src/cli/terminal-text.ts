// Text for an operator's terminal: control characters from mail (ESC sequences that retitle or
// rewrite the terminal, C1 controls, bidi overrides that reorder what is shown) are printed as
// visible escapes instead of being obeyed. JSON stays JSON, with those characters as \u escapes.
// Pure: the commands write the result.

/**
 * C0 controls and DEL, C1 controls (U+0080–U+009F; U+009B is a one-byte CSI), the bidi marks,
 * embeddings, overrides and isolates, and the Unicode line/paragraph separators.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(ch: string): string {
  const code = ch.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line for a terminal (a list column, an error message): every unsafe character, tab and newline included, as a visible escape. */
export function terminalLine(value: string): string {
  return value.replace(UNSAFE, visible);
}

/** A block of text for a terminal: newlines and tabs kept, every other unsafe character escaped. */
export function terminalText(value: string): string {
  return value.replace(UNSAFE, (ch) => (ch === '\n' || ch === '\t' ? ch : visible(ch)));
}

/**
 * JSON text made safe for a terminal without changing what it parses to: JSON.stringify escapes
 * C0 but writes DEL, C1, bidi controls and U+2028/2029 raw. Outside strings JSON is plain ASCII,
 * so every such character is inside a string, where \uXXXX means the same character.
 */
export function terminalJson(json: string): string {
  // Raw newlines, tabs and CRs are the indentation between tokens (inside strings they are escaped).
  return json.replace(UNSAFE, (ch) => (ch === '\n' || ch === '\t' || ch === '\r' ? ch : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** JSON.stringify for a terminal (see terminalJson). */
export function stringifyForTerminal(value: unknown, indent = 2): string {
  return terminalJson(JSON.stringify(value, null, indent));
}

/**
 * The export as written: JSON is always terminal-safe and still parses to the same directory. CSV
 * keeps its exact bytes when redirected to a file (it is re-imported), and is escaped for a
 * terminal, its human form, where a name could otherwise carry escape sequences.
 */
export function directoryForOutput(text: string, format: 'json' | 'csv', toTerminal: boolean): string {
  if (format === 'json') return terminalJson(text);
  return toTerminal ? terminalText(text) : text;
}
