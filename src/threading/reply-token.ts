// Case reply tokens: the Reply-To of case mail can be `<local>+c<case number>.<mac>@<domain>` of the
// support address, so a reply threads into its case even when subject and headers are gone. The
// HMAC proves we made that address; a token that fails it names no case. Pure: node:crypto only.
// Same shape as return-path-token.ts, with its own domain-separation string, so a bounce token's
// MAC is never a valid case token's MAC and the two patterns never match each other's addresses.
import { createHmac, timingSafeEqual } from 'node:crypto';

const MAC_HEX = 20; // 80 bits: far beyond guessing, short enough for a 64-octet local part

function mac(secret: string, caseNumber: number): string {
  return createHmac('sha256', secret).update(`casemail-case-reply:${caseNumber}`).digest('hex').slice(0, MAC_HEX);
}

function split(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf('@');
  return at > 0 ? { local: address.slice(0, at), domain: address.slice(at + 1) } : null;
}

/** The bare address of `Name <a@b>`, `<a@b>` or `a@b`, lower-cased. */
function bare(address: string): string {
  const s = address.trim();
  const open = s.lastIndexOf('<');
  const inner = open >= 0 ? s.slice(open + 1, s.indexOf('>', open) >= 0 ? s.indexOf('>', open) : undefined) : s;
  return inner.trim().toLowerCase();
}

/** `support+c100042.<mac>@example.com` for case 100042. */
export function replyAddressFor(supportAddress: string, secret: string, caseNumber: number): string {
  const parts = split(supportAddress.toLowerCase());
  if (!parts || !Number.isSafeInteger(caseNumber) || caseNumber <= 0) return supportAddress;
  const base = parts.local.split('+')[0]!;
  return `${base}+c${caseNumber}.${mac(secret, caseNumber)}@${parts.domain}`;
}

/**
 * The case number named by a valid token among these addresses (recipients), or null. Wrong MAC,
 * other domain or other local part -> null. Case-insensitive.
 */
export function caseNumberFromReplyToken(addresses: readonly string[], supportAddress: string, secret: string): number | null {
  const ours = split(supportAddress.toLowerCase());
  if (!ours) return null;
  const base = ours.local.split('+')[0]!;
  for (const address of addresses) {
    const parts = split(bare(address));
    if (!parts || parts.domain !== ours.domain) continue;
    // No leading zero: exactly one spelling per case, the one replyAddressFor writes.
    const m = /^([^+]+)\+c([1-9]\d{0,14})\.([0-9a-f]+)$/.exec(parts.local);
    if (!m || m[1] !== base) continue;
    const caseNumber = Number(m[2]);
    if (!Number.isSafeInteger(caseNumber)) continue;
    const given = Buffer.from(m[3]!, 'utf8');
    const expected = Buffer.from(mac(secret, caseNumber), 'utf8');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return caseNumber;
  }
  return null;
}
