// Notices from mailing-list software (fml, Mailman, Majordomo, LISTSERV, Sympa, ezmlm, ...) about a
// message sent to a list: a non-member's post refused, a loop stopped, a post held for the
// moderator. The list says our mail did not get through, so the first two are bounces. Pure:
// reads headers, sender and the report text it is given.
import { header, type ParsedMessage } from './parsed-message.js';

export type ListNoticeKind = 'non-member' | 'loop' | 'held';

export interface ListNotice {
  kind: ListNoticeKind;
  /** What identified the list software: a header or the sender. */
  software: string;
  /** Identified by the sender's address alone (weaker: "it-admin@" may be a person). */
  bySenderOnly: boolean;
  /** Enhanced status the notice stands for (RFC 3463): policy refusal, routing loop, deferred. */
  status: string;
}

/** Headers list managers put on their own administrative mail. */
const LIST_SOFTWARE_HEADERS: ReadonlyArray<[string, RegExp | null]> = [
  ['x-mlserver', null], ['x-ml-name', null], ['x-ml-info', null], ['x-mailman-version', null],
  ['x-list-administrivia', /^\s*yes/i], ['x-listserver', null], ['x-listprocessor-version', null],
  ['x-majordomo', null], ['x-sympa-to', null], ['x-ezmlm-version', null], ['x-loop', /fml|majordomo|mailman|listserv|sympa|ezmlm/i],
];

/** Senders that are list software by name. */
const LIST_SOFTWARE_SENDER = /^(?:majordomo|listserv|listproc|mailman|sympa|fml|ezmlm|lyris|mailman-(?:owner|bounces))$/i;
/** The administrative addresses of a list ("dev-owner", "owner-dev"): people use such names too. */
const LIST_ADMIN_SENDER = /^(?:.+-(?:owner|admin|request|bounces)|owner-.+)$/i;
/** What a list's administrative address must say before its mail counts as the software's notice. */
const MENTIONS_LIST = /\b(?:mailing[- ]?list|ML|list (?:owner|maintainer|server|administrator|moderator))\b/;

const NON_MEMBER = /\b(?:not a (?:list )?(?:member|subscriber)|non-?members?\b|only (?:list )?(?:members|subscribers) (?:may|can|are allowed to) (?:post|send)|posting by non-?member|members[- ]only|not subscribed to|you are not (?:allowed|authori[sz]ed|permitted) to (?:post|send)|not allowed to post|(?:unsubscribed|non-subscriber) (?:address|posting|submission)|nicht (?:mitglied|abonniert)|n'êtes pas (?:membre|abonné)|no es (?:miembro|suscriptor)|メンバー以外|メンバーではありません|非メンバー)/i;
const LOOP = /\b(?:mail(?:ing)? loop|loop (?:detected|alert|detection)|looping (?:mail|message)|(?:detected|possible|suspected) (?:a )?loop|duplicated? message-id|message-id (?:is )?duplicated|already (?:been )?(?:seen|posted|distributed)|schleife|boucle)\b|ループ/i;
const HELD = /\b(?:awaits? (?:the )?moderator|held for (?:moderation|moderator)|(?:until|for) the (?:list )?moderator|requires? moderator approval|waiting for moderator approval|pending moderator approval)\b/i;

function listSoftware(msg: ParsedMessage, fromLocal: string): { software: string; bySenderOnly: boolean } | null {
  for (const [name, value] of LIST_SOFTWARE_HEADERS) {
    const v = header(msg, name);
    if (v !== null && (value === null || value.test(v))) return { software: `${name} header`, bySenderOnly: false };
  }
  if (LIST_SOFTWARE_SENDER.test(fromLocal)) return { software: `sender ${fromLocal.toLowerCase()}`, bySenderOnly: true };
  if (LIST_ADMIN_SENDER.test(fromLocal) && MENTIONS_LIST.test(`${msg.subject.slice(0, 500)}\n${msg.text.slice(0, 8000)}`)) {
    return { software: `sender ${fromLocal.toLowerCase()}`, bySenderOnly: true };
  }
  return null;
}

/** The list-manager notice the message is, or null. `section` is the report text (before any returned message). */
export function readListNotice(msg: ParsedMessage, fromLocal: string, section: string): ListNotice | null {
  const found = listSoftware(msg, fromLocal);
  if (!found) return null;
  // Only the notice's own words: the returned post below may say anything.
  const words = `${msg.subject.slice(0, 500)}\n${section.slice(0, 8000)}`;
  if (LOOP.test(words)) return { kind: 'loop', ...found, status: '5.4.6' };
  if (NON_MEMBER.test(words)) return { kind: 'non-member', ...found, status: '5.7.1' };
  // A held post is told apart from a person's "needs approval" only by the software's own headers.
  if (HELD.test(words) && !found.bySenderOnly) return { kind: 'held', ...found, status: '4.7.1' };
  return null;
}
