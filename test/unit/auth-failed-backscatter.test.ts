// senderAuthenticationFailed: when the trusted server's Authentication-Results say the From
// domain failed, the not-entitled notice is not sent (it would be backscatter to a forged victim).
import { describe, expect, it } from 'vitest';
import { senderAuthenticationFailed } from '../../src/threading/auth-results.js';

const MX = 'mx.vendor.example';

describe('senderAuthenticationFailed', () => {
  it('is true for a DMARC, SPF or DKIM fail of the sender\'s own domain with no pass', () => {
    expect(senderAuthenticationFailed([`${MX}; dmarc=fail (p=reject) header.from=victim.example`], MX, 'v@victim.example')).toBe(true);
    expect(senderAuthenticationFailed([`${MX}; spf=softfail smtp.mailfrom=v@victim.example; dkim=none`], MX, 'v@victim.example')).toBe(true);
    expect(senderAuthenticationFailed([`${MX}; dkim=fail header.d=Victim.Example`], MX, 'v@victim.example')).toBe(true);
    expect(senderAuthenticationFailed([`${MX}; spf=permerror smtp.mailfrom=victim.example`], MX, 'v@victim.example')).toBe(true);
  });
  it('is false when anything passes for the domain, or the failures are another domain\'s', () => {
    expect(senderAuthenticationFailed([`${MX}; dkim=fail header.d=victim.example; dmarc=pass header.from=victim.example`], MX, 'v@victim.example')).toBe(false);
    expect(senderAuthenticationFailed([`${MX}; dkim=fail header.d=list.example; spf=none smtp.mailfrom=victim.example`], MX, 'v@victim.example')).toBe(false);
    expect(senderAuthenticationFailed([`${MX}; spf=neutral smtp.mailfrom=victim.example`], MX, 'v@victim.example')).toBe(false);
  });
  it('is false when nothing trusted says so: no configuration, another server\'s header, or ours below another', () => {
    expect(senderAuthenticationFailed([`${MX}; dmarc=fail header.from=victim.example`], null, 'v@victim.example')).toBe(false);
    expect(senderAuthenticationFailed([`evil.example; dmarc=fail header.from=victim.example`], MX, 'v@victim.example')).toBe(false);
    expect(senderAuthenticationFailed([`relay.example; none`, `${MX}; dmarc=fail header.from=victim.example`], MX, 'v@victim.example')).toBe(true);
    expect(senderAuthenticationFailed([`${MX}; none`, `relay.example; none`, `${MX}; dmarc=fail header.from=victim.example`], MX, 'v@victim.example')).toBe(false);
    expect(senderAuthenticationFailed([], MX, 'v@victim.example')).toBe(false);
    expect(senderAuthenticationFailed([`${MX}; dmarc=fail header.from=victim.example`], MX, null)).toBe(false);
  });
});
