// The plain-data shape of one parsed message: what the ingest edge (mailparser) produces and
// what every pure module in src/threading consumes. No library types leak through here.

export interface MailAddress {
  /** Lower-cased as given; IDN domains in Unicode form. Empty string when only a name was given. */
  address: string;
  name: string;
}

export interface ParsedAttachment {
  /** RFC 2231/2047 decoded; null when the part named none. */
  filename: string | null;
  contentType: string;
  /** Decoded bytes. */
  size: number;
  /** Hex md5 of the decoded bytes. */
  md5: string;
  /** With angle brackets, e.g. "<img1@host>"; null when absent. */
  contentId: string | null;
  inline: boolean;
  /** True for files unpacked from a TNEF winmail.dat. */
  fromTnef: boolean;
  /** Decoded content. Report parts (message/delivery-status, text/rfc822-headers, ...) are here too. */
  content: Buffer;
}

export interface ParsedMessage {
  /** The first mailbox of the first From header. */
  from: MailAddress | null;
  /**
   * How the originator was stated: every mailbox of every From header, the number of From header
   * fields, and the Sender mailbox. RFC 5322 allows one From field, with several mailboxes only
   * when Sender names the one who sent it; anything else makes `from` doubtful. Optional for
   * hand-built messages (read as one From field holding `from`).
   */
  originator?: { fromMailboxes: MailAddress[]; fromFields: number; sender: MailAddress | null };
  to: MailAddress[];
  cc: MailAddress[];
  replyTo: MailAddress[];
  /** Recipient headers used for routing: Delivered-To, X-Original-To, Envelope-To (addresses only). */
  deliveredTo: string[];
  /** Return-Path address; "" for an empty `<>` path, null when the header is absent. */
  returnPath: string | null;
  subject: string;
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  date: Date | null;
  text: string;
  html: string | null;
  attachments: ParsedAttachment[];
  tnef: { bodyType: 'rtf' | 'html' | 'text' | null } | null;
  /** Top-level content type, lower-cased, without parameters, e.g. "multipart/report". */
  contentType: string;
  /** Parameters of the top-level content type (lower-cased names), e.g. { "report-type": "delivery-status" }. */
  contentTypeParams: Record<string, string>;
  /** Every top-level header, name lower-cased, values unfolded and RFC 2047-decoded, in order. */
  headers: Record<string, string[]>;
  /** Where `text` came from: a text/plain part, derived from the HTML body, or nothing. Optional for hand-built messages. */
  textSource?: 'plain' | 'html' | 'none';
  /** Problems met while parsing that did not stop it (bad charset, broken MIME, ...). */
  warnings: string[];
}

/** First value of a header, or null. */
export function header(msg: Pick<ParsedMessage, 'headers'>, name: string): string | null {
  return msg.headers[name.toLowerCase()]?.[0] ?? null;
}
