// Checklist 45 as a property: whatever string (or non-string) arrives as `returnTo`, safeReturnTo never
// throws and never yields a target that a browser would resolve to another origin — neither as returned
// nor after Express's res.redirect() has percent-encoded it into the Location header.

import { createRequire } from 'node:module';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { safeReturnTo } from '../../lib/return-to.js';

// What express 5's res.location() applies to the path before it becomes the Location header.
const encodeUrl = createRequire(import.meta.url)('encodeurl') as (url: string) => string;

const BASES = ['https://app.example.com', 'http://127.0.0.1:3000', 'https://app.example.com/mounted/here', 'http://[::1]:8080'];

// Spellings that have opened redirects in real libraries (GHSA-7p99-3798-f85c, CVE-2021-43812,
// CVE-2022-31093, CVE-2024-29041) or that browsers normalise in surprising ways.
const PREFIXES = [
  '//',
  '///',
  '////',
  '/\\',
  '\\/',
  '\\\\',
  '\\',
  '/\\/',
  '%2f%2f',
  '%2F%2F',
  '/%2f',
  '/%2F/',
  '/%5c',
  '/%5C/',
  '%5c%5c',
  '/%09/',
  '/\t/',
  '/\n/',
  '/\r/',
  '/\u0000/',
  '\t//',
  ' //',
  '\u00a0//',
  '/ /',
  '/./',
  '/../',
  '/..//',
  '/.%2e/',
  '/%2e%2e/',
  'http:',
  'https:',
  'http://',
  'https://',
  'HTTP://',
  'javascript:',
  'JaVaScRiPt:',
  'data:',
  'vbscript:',
  'file:',
  'mailto:',
  'http:/',
  'https:\\\\',
  '/http://',
  '/https:',
  '?',
  '#',
  '@',
  '/@',
  '//@',
  '/:',
  ':',
  '\u3002',
  '／／',
  '/\u2215',
  '\uff0f\uff0f',
  '\u2028',
  '\ufeff//',
  '/\u200b/',
  '%00',
  '%0d%0a',
  '/%0a/',
  '/%E3%80%82/',
  '/;/',
  '/.;/',
  '/%25%32%66',
];
const HOSTS = [
  'evil.example',
  'app.example.com.evil.example',
  'app.example.com@evil.example',
  'evil.example\\@app.example.com',
  '127.0.0.1',
  '127.0.0.1:3000',
  '[::1]',
  '0x7f.1',
  '2130706433',
  'xn--80ak6aa92e.com',
  'éxample.com',
  'ЕXAMPLE.com',
  '%65vil.example',
  'localhost',
  'app.example.com',
  '',
];

const anyString = fc.string({ unit: 'binary', maxLength: 80 });
const pieces = fc.oneof(
  fc.constantFrom(...PREFIXES),
  fc.constantFrom(...HOSTS),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.constantFrom('/', '.', '..', '%', '%2', '%25', '\\', ':', '@', '?', '#', '&', '='),
);
const tricky = fc.oneof(
  fc.tuple(fc.constantFrom(...PREFIXES), fc.constantFrom(...HOSTS), anyString).map(([p, h, rest]) => `${p}${h}${rest}`),
  fc.array(pieces, { minLength: 1, maxLength: 8 }).map((parts) => parts.join('')),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.webUrl().map((u) => u.replace(/^https?:/, '')),
  anyString,
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.webPath().map((p) => `/${p}`),
);
const anyValue = fc.oneof(tricky, fc.anything(), fc.array(tricky, { maxLength: 3 }));

describe('45: safeReturnTo (property)', () => {
  it('never throws and always yields a same-origin target, also after Express encodes it into Location', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BASES), anyValue, (base, value) => {
        const result = safeReturnTo(value, base);
        expect(typeof result).toBe('string');
        const origin = new URL(base).origin;
        expect(new URL(result, base).origin).toBe(origin);
        expect(new URL(encodeUrl(result), base).origin).toBe(origin);
        // A path, never something a browser could read as scheme-relative or as a backslash-prefixed host.
        expect(result.startsWith('/')).toBe(true);
        expect(/^[/\\]{2}/.test(result)).toBe(false);
        expect(/[\\\u0000-\u001f\u007f]/.test(result)).toBe(false);
      }),
      { numRuns: 6_000 },
    );
  });

  it('is stable: a value it returned is returned unchanged', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BASES), tricky, (base, value) => {
        const once = safeReturnTo(value, base);
        expect(safeReturnTo(once, base)).toBe(once);
      }),
      { numRuns: 5_000 },
    );
  });

  it('keeps ordinary same-origin paths with their query and fragment', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,11}$/);
    const query = fc
      .array(fc.tuple(segment, segment), { maxLength: 3 })
      .map((kv) => (kv.length ? `?${kv.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));
    const path = fc
      .tuple(fc.array(segment, { maxLength: 5 }), query, fc.option(segment, { nil: undefined }))
      .map(([segments, q, hash]) => `/${segments.join('/')}${q}${hash ? `#${hash}` : ''}`);
    fc.assert(
      fc.property(fc.constantFrom(...BASES), path, (base, value) => {
        expect(safeReturnTo(value, base)).toBe(value);
      }),
      { numRuns: 3_000 },
    );
  });

  // '/%09/evil.example' is not among them: it stays an encoded same-origin path unless something decodes it.
  it('falls back to / for the known bypasses', () => {
    for (const value of [
      '//evil.example',
      '/\\evil.example',
      '\\/evil.example',
      '/\t/evil.example',
      'https://evil.example/',
      'javascript:alert(1)',
      '//app.example.com@evil.example',
      '/\\/evil.example',
      '',
      'x'.repeat(5000),
    ]) {
      expect(safeReturnTo(value, 'https://app.example.com')).toBe('/');
    }
  });
});
