// What an organisation admin asks for by subject (spec section 8): `cases` / `list cases`, `add
// contact` and `licenses`, in any letter case and punctuation, behind any Re:/Fwd: prefixes; and
// the `add contact` body, one `address[, name]` or `Name <address>` per line. Pure.

export type AdminCommand = 'cases' | 'add-contact' | 'licenses';

const COMMANDS: Record<string, AdminCommand> = {
  'cases': 'cases',
  'list cases': 'cases',
  'add contact': 'add-contact',
  'add contacts': 'add-contact',
  'licenses': 'licenses',
  'licences': 'licenses',
  'list licenses': 'licenses',
  'list licences': 'licenses',
};

/** The admin command a subject names, or null. Anything else in the subject makes it an ordinary message. */
export function adminCommandOf(subject: string): AdminCommand | null {
  let s = subject.normalize('NFKC').toLowerCase().trim();
  // Re:, Fwd:, AW:, WG:, SV: in front, repeatedly: an admin may answer our own answer.
  for (let i = 0; i < 5; i++) {
    const stripped = s.replace(/^(re|fw|fwd|aw|wg|sv|vs)\s*(\[\d+\])?\s*:\s*/, '');
    if (stripped === s) break;
    s = stripped;
  }
  const words = s.replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
  return COMMANDS[words] ?? null;
}

export interface ContactLine {
  /** The line as written (trimmed, cut to 200 characters). */
  line: string;
  /** The address, lower-cased, or null when the line holds no usable address. */
  address: string | null;
  name: string;
}

export const MAX_CONTACT_LINES = 50;
// A plain addr-spec without quoting or comments: what a directory row can hold.
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

/** The `add contact` body: every non-empty line, at most MAX_CONTACT_LINES, each parsed on its own. */
export function contactLines(text: string): { lines: ContactLine[]; omitted: number } {
  const all = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  return { lines: all.slice(0, MAX_CONTACT_LINES).map(parseContactLine), omitted: Math.max(0, all.length - MAX_CONTACT_LINES) };
}

export function parseContactLine(raw: string): ContactLine {
  const line = raw.trim().slice(0, 200);
  // Bullets and list markers a mail client or a paste may add.
  const body = line.replace(/^(?:[-*•]|\d+[.)])\s+/, '');
  const angle = /^(.*?)<([^<>]*)>\s*$/.exec(body);
  let address: string;
  let name: string;
  if (angle) {
    address = angle[2]!.trim();
    name = angle[1]!.trim().replace(/^"(.*)"$/, '$1').trim();
  } else {
    const comma = body.indexOf(',');
    address = (comma >= 0 ? body.slice(0, comma) : body).trim();
    name = comma >= 0 ? body.slice(comma + 1).trim() : '';
  }
  address = address.replace(/^mailto:/i, '');
  const ok = address.length <= 254 && ADDRESS.test(address);
  return { line, address: ok ? address.toLowerCase() : null, name: name.slice(0, 200) };
}
