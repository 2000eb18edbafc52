// VERP return paths: what we send carries the envelope sender `<local>+bounce-<outbox id>.<mac>@
// <domain>` of the support address, so a bounce names the outbox row it is about, and the HMAC
// proves we made that address (nobody can forge one for another row). Pure: node:crypto only.
// A `+tag` on the support address reaches the intake unchanged (SMTP accepts `local+tag@domain`
// for our addresses; mailbox providers deliver subaddresses to the same mailbox).
import { createHmac, timingSafeEqual } from 'node:crypto';

const MAC_HEX = 20; // 80 bits: far beyond guessing, short enough for a 64-octet local part

function mac(secret: string, outboxId: number): string {
  return createHmac('sha256', secret).update(`casemail-bounce:${outboxId}`).digest('hex').slice(0, MAC_HEX);
}

function split(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf('@');
  return at > 0 ? { local: address.slice(0, at), domain: address.slice(at + 1) } : null;
}

/** The envelope sender for outbox row `outboxId`: `support+bounce-42.<mac>@example.com`. */
export function returnPathFor(supportAddress: string, secret: string, outboxId: number): string {
  const parts = split(supportAddress.toLowerCase());
  if (!parts || !Number.isSafeInteger(outboxId) || outboxId <= 0) return supportAddress;
  const base = parts.local.split('+')[0]!;
  return `${base}+bounce-${outboxId}.${mac(secret, outboxId)}@${parts.domain}`;
}

/**
 * The outbox row id named by a valid return-path token among these addresses (envelope
 * recipients, Delivered-To, X-Original-To, To), or null. A token with a wrong MAC, or for
 * another domain or local part than the support address's, counts as none.
 */
export function outboxIdFromReturnPath(addresses: readonly string[], supportAddress: string, secret: string): number | null {
  const ours = split(supportAddress.toLowerCase());
  if (!ours) return null;
  const base = ours.local.split('+')[0]!;
  for (const address of addresses) {
    const parts = split(address.trim().toLowerCase().replace(/^<|>$/g, ''));
    if (!parts || parts.domain !== ours.domain) continue;
    const m = /^([^+]+)\+bounce-(\d{1,15})\.([0-9a-f]+)$/.exec(parts.local);
    if (!m || m[1] !== base) continue;
    const id = Number(m[2]);
    const given = Buffer.from(m[3]!, 'utf8');
    const expected = Buffer.from(mac(secret, id), 'utf8');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return id;
  }
  return null;
}
