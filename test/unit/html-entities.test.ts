// HTML character references: the built-in decoder must read text exactly as the full HTML table
// (the `he` package) does, whichever of its paths a string takes.
import he from 'he';
import { describe, expect, it } from 'vitest';
import { decodeEntities } from '../../src/threading/quote-entities.js';

const samples = [
  'plain text without references',
  'Tom &amp; Jerry &lt;b&gt; &quot;quoted&quot; &apos;single&apos;',
  'Gr&uuml;&szlig;e aus K&ouml;ln &ndash; &bdquo;Zitat&ldquo; &hellip; 5&nbsp;&euro;',
  'legacy without semicolon: &copy2026 &amp &ltx &notit &AElig;x &Eacute',
  'AT&T and R&D & co; &unknownthing; &#;',
  'numeric: &#233; &#xE9; &#X1F600; &#128; &#x9d; &#0; &#xD800; &#99999999; &#65',
  'rarer named ones: &alpha; &rarr; &hearts; &NotNestedGreaterGreater;',
  '&notin; &notfoo; &ampamp;',
  'malformed: &#x; &#xg; &#12a &#x41g &Amp; &amp &#65&#66; & &; &1; &a',
  'names of object properties: &constructor; &toString; &__proto__; &hasOwnProperty',
];

describe('decodeEntities', () => {
  it.each(samples)('agrees with the full HTML table: %s', (s) => {
    expect(decodeEntities(s)).toBe(he.decode(s));
  });
  it('decodes the everyday references', () => {
    expect(decodeEntities('Gr&uuml;&szlig;e &ndash; 5&nbsp;&euro; &#128;')).toBe('Grüße – 5\u00a0€ €');
  });
});
