// Classifies a failed send (a nodemailer error, a socket error, anything thrown by a transport)
// as temporary (retry later) or permanent (mark the outbox row failed), with the server's reply
// text for operators. Pure: plain data in, plain data out; no I/O, no clock.

export interface SendFailure {
  /** true: the same message would be refused again (5xx, bad envelope); false: retry later. */
  permanent: boolean;
  /** The server's reply when there was one, else the error message; one line, bounded. */
  reply: string;
  /** nodemailer/Node error code such as ECONNREFUSED, EENVELOPE; null when the error has none. */
  code: string | null;
  /** SMTP reply code, e.g. 451 or 550; null when the server never answered. */
  responseCode: number | null;
  /** The SMTP command that was answered with the error (MAIL FROM, RCPT TO, DATA), when known. */
  command: string | null;
}

const MAX_REPLY_CHARS = 1000;

/**
 * Errors that mean "our side of the pipe is not working right now" — the server was unreachable,
 * the connection broke, or our credentials/configuration are wrong. None of them says anything
 * about the message, so they are retried even when a reply code would look permanent (a 535
 * authentication failure must not fail every queued mail; an operator fixes the password).
 */
const ALWAYS_TEMPORARY_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN',
  'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'EADDRNOTAVAIL',
  'ECONNECTION', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EMAXLIMIT', 'EAUTH', 'ENOAUTH', 'EOAUTH2',
  'ECONFIG', 'EPROTOCOL', 'ESTREAM', 'EABORT',
]);

/** Errors about the message or envelope itself that no retry can fix, even without a reply code. */
const ALWAYS_PERMANENT_CODES: ReadonlySet<string> = new Set([
  'EMAXRECIPIENTS', 'EFILEACCESS', 'EURLACCESS', 'EOTP', 'EREQUIRETLS',
]);

function field(err: unknown, name: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[name] : undefined;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return flat.length > MAX_REPLY_CHARS ? `${flat.slice(0, MAX_REPLY_CHARS - 1)}…` : flat;
}

function replyCodeOf(err: unknown, response: string | null): number | null {
  const declared = field(err, 'responseCode');
  if (typeof declared === 'number' && Number.isInteger(declared) && declared >= 200 && declared < 600) return declared;
  const leading = response?.match(/^([2-5]\d\d)[\s-]/);
  return leading ? Number(leading[1]) : null;
}

export function classifySendError(err: unknown): SendFailure {
  const codeField = field(err, 'code');
  const code = typeof codeField === 'string' && codeField !== '' ? codeField : null;
  const responseField = field(err, 'response');
  const response = typeof responseField === 'string' && responseField.trim() !== '' ? responseField : null;
  const commandField = field(err, 'command');
  const command = typeof commandField === 'string' && commandField !== '' ? commandField : null;
  const responseCode = replyCodeOf(err, response);
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : String(err);
  const reply = oneLine(response ?? (message || code || 'unknown send error'));

  let permanent: boolean;
  if (code !== null && ALWAYS_TEMPORARY_CODES.has(code)) permanent = false;
  else if (code !== null && ALWAYS_PERMANENT_CODES.has(code)) permanent = true;
  // RFC 5321: 5yz is a permanent negative reply, 4yz transient. 503 (bad sequence of commands)
  // is a session-state problem, not a verdict on the message, so a new connection may succeed.
  else if (responseCode !== null) permanent = responseCode >= 500 && responseCode !== 503;
  // nodemailer's own envelope check ("No recipients defined", an unparseable address): the row
  // itself is broken, and retrying it cannot help.
  else if (code === 'EENVELOPE') permanent = true;
  // Unknown errors are retried: maxAttempts bounds the cost, and failing a mail for an
  // unexplained hiccup would lose a customer's acknowledgement.
  else permanent = false;

  return { permanent, reply, code, responseCode, command };
}

/** The text stored in outbox.last_error: the reply first, then where it came from. */
export function describeSendFailure(failure: SendFailure): string {
  const where = [failure.code, failure.command].filter((p): p is string => p !== null);
  return where.length > 0 ? `${failure.reply} [${where.join(' ')}]` : failure.reply;
}
