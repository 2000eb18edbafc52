// Whether an upstream Authentication-Results header (RFC 8601) vouches for the sender's domain:
// the one check admin commands need beyond a From line (spec section 8). Parsing is mailauth's
// (its header parser); which headers count and what passes is decided here. Pure.
import parseDkimHeaders, { type ParsedAuthHeaderEntry } from 'mailauth/lib/parse-dkim-headers.js';

export type AuthMethod = 'dkim' | 'spf' | 'dmarc';

export type SenderAuthentication =
  | { ok: true; method: AuthMethod; authservId: string; domain: string }
  | {
      ok: false;
      /** not_configured: no trustAuthResultsFrom; no_trusted_header: nothing from that authserv-id; no_pass: no DKIM, SPF or DMARC pass for the domain. */
      problem: 'not_configured' | 'no_sender' | 'no_trusted_header' | 'no_pass';
      domain: string | null;
      authservId: string | null;
      /** The trusted header's method results, as "dkim=fail (header.d=x.example)", for the explanation. */
      seen: string[];
    };

/** Header values as parsed (name lower-cased, in order, topmost first), unfolded. */
export function senderAuthentication(
  authResults: readonly string[], trustFrom: string | null, senderAddress: string | null,
): SenderAuthentication {
  const domain = senderAddress ? domainOf(senderAddress) : null;
  const trusted = trustFrom?.trim().toLowerCase() || null;
  if (!trusted) return { ok: false, problem: 'not_configured', domain, authservId: null, seen: [] };
  if (!domain) return { ok: false, problem: 'no_sender', domain, authservId: trusted, seen: [] };
  const ours = trustedHeaders(authResults, trusted);
  if (ours.length === 0) return { ok: false, problem: 'no_trusted_header', domain, authservId: trusted, seen: [] };
  const seen: string[] = [];
  for (const h of ours) {
    for (const e of asList(h.dkim)) {
      const d = prop(e, 'header', 'd');
      const i = prop(e, 'header', 'i');
      seen.push(describe('dkim', e, d ? `header.d=${d}` : i ? `header.i=${i}` : ''));
      if (passes(e) && (sameDomain(d, domain) || sameDomain(i ? domainOf(i) : null, domain))) return { ok: true, method: 'dkim', authservId: trusted, domain };
    }
    for (const e of asList(h.spf)) {
      const from = prop(e, 'smtp', 'mailfrom');
      seen.push(describe('spf', e, from ? `smtp.mailfrom=${from}` : ''));
      if (passes(e) && sameDomain(from ? domainOf(from) : null, domain)) return { ok: true, method: 'spf', authservId: trusted, domain };
    }
    for (const e of asList(h.dmarc)) {
      const from = prop(e, 'header', 'from');
      seen.push(describe('dmarc', e, from ? `header.from=${from}` : ''));
      if (passes(e) && sameDomain(from ? domainOf(from) : null, domain)) return { ok: true, method: 'dmarc', authservId: trusted, domain };
    }
  }
  return { ok: false, problem: 'no_pass', domain, authservId: trusted, seen };
}

/**
 * Whether the trusted server says the sender's domain failed authentication: a DKIM, SPF or
 * DMARC fail (softfail, permerror) for that domain and no pass. Mail like that most likely does
 * not come from the address in From, so answering it would send our notice to a forged victim
 * (backscatter). Without trustAuthResultsFrom, or without a trusted header, nothing is known: false.
 */
export function senderAuthenticationFailed(authResults: readonly string[], trustFrom: string | null, senderAddress: string | null): boolean {
  const verdict = senderAuthentication(authResults, trustFrom, senderAddress);
  if (verdict.ok || verdict.problem !== 'no_pass' || !verdict.domain || !verdict.authservId) return false;
  const domain = verdict.domain;
  return trustedHeaders(authResults, verdict.authservId).some((h) =>
    asList(h.dkim).some((e) => fails(e) && (sameDomain(prop(e, 'header', 'd'), domain) || sameDomain(domainFrom(prop(e, 'header', 'i')), domain)))
    || asList(h.spf).some((e) => fails(e) && sameDomain(domainFrom(prop(e, 'smtp', 'mailfrom')), domain))
    || asList(h.dmarc).some((e) => fails(e) && sameDomain(prop(e, 'header', 'from'), domain)));
}

function fails(e: ParsedAuthHeaderEntry): boolean {
  return ['fail', 'softfail', 'permerror'].includes(e.value.trim().toLowerCase());
}

function domainFrom(value: string | null): string | null {
  return value ? domainOf(value) : null;
}

type Parsed = ReturnType<typeof parseDkimHeaders>['parsed'];

/**
 * The topmost run of headers from the trusted authserv-id. Each relay prepends its header, and our
 * border server strips any copy of its own id arriving from outside (RFC 8601 section 5); so a
 * header claiming the trusted id below one from another server was written before ours saw the
 * message — by anyone — and is not trusted. Headers from other ids are never trusted.
 */
function trustedHeaders(values: readonly string[], trusted: string): Parsed[] {
  const out: Parsed[] = [];
  for (const v of values) {
    let parsed: Parsed;
    try {
      parsed = parseDkimHeaders(`Authentication-Results: ${v}`).parsed;
    } catch {
      if (out.length) break;
      continue;
    }
    // "mx.example.net 1": the id, then an optional version.
    const id = (parsed.value ?? '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
    if (id === trusted) out.push(parsed);
    else if (out.length) break;
  }
  return out;
}

function asList(v: unknown): ParsedAuthHeaderEntry[] {
  if (Array.isArray(v)) return v.filter(isEntry);
  return isEntry(v) ? [v] : [];
}

function isEntry(v: unknown): v is ParsedAuthHeaderEntry {
  return typeof v === 'object' && v !== null && typeof (v as { value?: unknown }).value === 'string';
}

function passes(e: ParsedAuthHeaderEntry): boolean {
  return e.value.trim().toLowerCase() === 'pass';
}

/** `e.header.d` and the like: ptype.property, as the parser nests them. */
function prop(e: ParsedAuthHeaderEntry, ptype: string, property: string): string | null {
  const group = e[ptype];
  if (typeof group !== 'object' || group === null) return null;
  const v = (group as Record<string, unknown>)[property];
  return typeof v === 'string' && v.trim() ? v.trim() : null;
}

function describe(method: AuthMethod, e: ParsedAuthHeaderEntry, detail: string): string {
  return `${method}=${e.value.trim().toLowerCase() || '?'}${detail ? ` (${detail.slice(0, 120)})` : ''}`;
}

/** The domain of an address, "@domain" or a bare domain; lower-cased, without a trailing dot. */
export function domainOf(value: string): string | null {
  const at = value.lastIndexOf('@');
  const d = (at >= 0 ? value.slice(at + 1) : value).trim().replace(/^<|>$/g, '').replace(/\.$/, '').toLowerCase();
  return d && !/[\s@]/.test(d) ? d : null;
}

function sameDomain(a: string | null, b: string): boolean {
  return a !== null && a.toLowerCase().replace(/\.$/, '') === b;
}
