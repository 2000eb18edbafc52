// Case reply tokens (issue 7): `support+c<number>.<mac>@domain` round-trips, and anything that fails
// the HMAC, names another mailbox, or is a bounce token instead, names no case.
import { describe, expect, it } from 'vitest';
import { caseNumberFromReplyToken, replyAddressFor } from '../../src/threading/reply-token.js';
import { outboxIdFromReturnPath, returnPathFor } from '../../src/threading/return-path-token.js';

const support = 'support@example.com';
const secret = 'reply-token-test-secret';

describe('case reply tokens', () => {
  it('round-trips a case number through the Reply-To address', () => {
    const address = replyAddressFor(support, secret, 100042);
    expect(address).toMatch(/^support\+c100042\.[0-9a-f]{20}@example\.com$/);
    expect(caseNumberFromReplyToken([address], support, secret)).toBe(100042);
  });

  it('finds the token among other recipients, in any case and inside a display name', () => {
    const address = replyAddressFor(support, secret, 7);
    const shouted = `"Support" <${address.toUpperCase()}>`;
    expect(caseNumberFromReplyToken(['erin@example.org', shouted], 'Support@Example.COM', secret)).toBe(7);
  });

  it('keeps the base local part when the support address has its own +tag', () => {
    const address = replyAddressFor('support+eu@example.com', secret, 12);
    expect(address.startsWith('support+c12.')).toBe(true);
    expect(caseNumberFromReplyToken([address], 'support+eu@example.com', secret)).toBe(12);
  });

  it('ignores a wrong MAC, another secret and a tampered number', () => {
    const address = replyAddressFor(support, secret, 100042);
    const mac = /\.([0-9a-f]+)@/.exec(address)![1]!;
    const flipped = mac.slice(0, -1) + (mac.endsWith('0') ? '1' : '0');
    expect(caseNumberFromReplyToken([address.replace(mac, flipped)], support, secret)).toBeNull();
    expect(caseNumberFromReplyToken([address.replace(mac, mac.slice(0, 10))], support, secret)).toBeNull();
    expect(caseNumberFromReplyToken([address], support, 'another-secret')).toBeNull();
    expect(caseNumberFromReplyToken([address.replace('+c100042.', '+c100043.')], support, secret)).toBeNull();
    expect(caseNumberFromReplyToken([address.replace('+c100042.', '+c0100042.')], support, secret)).toBeNull();
  });

  it('ignores a valid token addressed to another domain or another local part', () => {
    const address = replyAddressFor(support, secret, 5);
    expect(caseNumberFromReplyToken([address.replace('@example.com', '@example.net')], support, secret)).toBeNull();
    expect(caseNumberFromReplyToken([address.replace('support+', 'sales+')], support, secret)).toBeNull();
    expect(caseNumberFromReplyToken([address], 'help@example.com', secret)).toBeNull();
  });

  it('does not mistake a bounce token for a case token, nor the other way round', () => {
    const bounce = returnPathFor(support, secret, 100042);
    const reply = replyAddressFor(support, secret, 100042);
    expect(outboxIdFromReturnPath([bounce], support, secret)).toBe(100042);
    expect(caseNumberFromReplyToken([bounce], support, secret)).toBeNull();
    expect(outboxIdFromReturnPath([reply], support, secret)).toBeNull();
    // Same number, MACs transplanted between the two shapes: the domain separation refuses both.
    const bounceMac = /\.([0-9a-f]+)@/.exec(bounce)![1]!;
    const replyMac = /\.([0-9a-f]+)@/.exec(reply)![1]!;
    expect(bounceMac).not.toBe(replyMac);
    expect(caseNumberFromReplyToken([`support+c100042.${bounceMac}@example.com`], support, secret)).toBeNull();
    expect(outboxIdFromReturnPath([`support+bounce-100042.${replyMac}@example.com`], support, secret)).toBeNull();
  });

  it('leaves the support address alone for a number that is no case number', () => {
    for (const n of [0, -3, 1.5, Number.NaN]) expect(replyAddressFor(support, secret, n)).toBe(support);
    expect(caseNumberFromReplyToken(['support@example.com', 'not an address'], support, secret)).toBeNull();
  });
});
