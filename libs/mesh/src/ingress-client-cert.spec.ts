import type { IncomingHttpHeaders } from 'node:http';
import { parseXfcc, verifyIngressClientCert } from './ingress-client-cert';

const REQUIRED = { requireMtls: true };
const HASH = 'a'.repeat(64);

describe('verifyIngressClientCert', () => {
  it('accepts anything when require_mtls is off', () => {
    expect(verifyIngressClientCert({}, { requireMtls: false })).toEqual({ ok: true, via: 'not_required', subject: undefined });
  });

  it('refuses a request without any verified-client header', () => {
    expect(verifyIngressClientCert({ host: 'hub' }, REQUIRED)).toEqual({ ok: false, reason: 'no_client_cert' });
  });

  describe('ingress-nginx', () => {
    it('accepts ssl-client-verify: SUCCESS with a subject DN', () => {
      const h = { 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'CN=hub-b,O=NowConnect' };
      expect(verifyIngressClientCert(h, REQUIRED)).toEqual({ ok: true, via: 'nginx', subject: 'CN=hub-b,O=NowConnect' });
    });

    it('accepts SUCCESS with only the (url-encoded) certificate', () => {
      const h = { 'ssl-client-verify': 'SUCCESS', 'ssl-client-cert': '-----BEGIN%20CERTIFICATE-----%0A...' };
      expect(verifyIngressClientCert(h, REQUIRED)).toEqual({ ok: true, via: 'nginx', subject: undefined });
    });

    it.each(['FAILED:certificate has expired', 'NONE', 'success', ''])('refuses ssl-client-verify %p', (v) => {
      const h = { 'ssl-client-verify': v, 'ssl-client-subject-dn': 'CN=hub-b' };
      expect(verifyIngressClientCert(h, REQUIRED)).toEqual({ ok: false, reason: 'client_cert_not_verified' });
    });

    it('refuses SUCCESS without a subject or certificate', () => {
      expect(verifyIngressClientCert({ 'ssl-client-verify': 'SUCCESS' }, REQUIRED)).toEqual({ ok: false, reason: 'no_client_cert' });
      expect(verifyIngressClientCert({ 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': ' ' }, REQUIRED)).toEqual({
        ok: false,
        reason: 'no_client_cert',
      });
    });

    it('a failed nginx verification is not rescued by an XFCC header', () => {
      const h = { 'ssl-client-verify': 'FAILED:x', 'x-forwarded-client-cert': `Hash=${HASH};Subject="CN=hub-b"` };
      expect(verifyIngressClientCert(h, REQUIRED)).toEqual({ ok: false, reason: 'client_cert_not_verified' });
    });

    it('refuses a header sent twice (client-injected copy next to the ingress one)', () => {
      const h = { 'ssl-client-verify': ['SUCCESS', 'SUCCESS'], 'ssl-client-subject-dn': 'CN=x' } as unknown as IncomingHttpHeaders;
      expect(verifyIngressClientCert(h, REQUIRED)).toEqual({ ok: false, reason: 'ambiguous_header' });
    });
  });

  describe('Envoy x-forwarded-client-cert', () => {
    it('accepts an element with Hash and Subject', () => {
      const h = { 'x-forwarded-client-cert': `By=spiffe://mesh/hub-a;Hash=${HASH};Subject="CN=hub-b,O=Now\\"Connect";URI=spiffe://mesh/hub-b` };
      expect(verifyIngressClientCert(h, REQUIRED)).toEqual({ ok: true, via: 'envoy', subject: 'CN=hub-b,O=Now"Connect' });
    });

    it('accepts Hash with a URI or DNS SAN only', () => {
      expect(verifyIngressClientCert({ 'x-forwarded-client-cert': `Hash=${HASH};DNS=hub-b.example` }, REQUIRED)).toMatchObject({ ok: true, via: 'envoy' });
    });

    it.each([
      ['no hash', 'Subject="CN=hub-b"', 'no_client_cert'],
      ['short hash', 'Hash=abc;Subject="CN=x"', 'no_client_cert'],
      ['hash only', `Hash=${HASH}`, 'no_client_cert'],
      ['unterminated quote', `Hash=${HASH};Subject="CN=x`, 'malformed_header'],
      ['no key', '=x', 'malformed_header'],
      ['garbage', 'garbage', 'malformed_header'],
      ['empty', '', 'malformed_header'],
    ])('refuses %s', (_name, value, reason) => {
      expect(verifyIngressClientCert({ 'x-forwarded-client-cert': value }, REQUIRED)).toEqual({ ok: false, reason });
    });
  });
});

describe('parseXfcc', () => {
  it('splits elements on commas and pairs on semicolons, honouring quotes', () => {
    const r = parseXfcc(`Hash=${HASH};Subject="CN=a,O=b;c",By=x;Hash=${HASH}`);
    expect(r?.map((m) => Object.fromEntries(m))).toEqual([
      { hash: HASH, subject: 'CN=a,O=b;c' },
      { by: 'x', hash: HASH },
    ]);
  });

  it('refuses oversized headers', () => {
    expect(parseXfcc(`Hash=${'a'.repeat(20_000)}`)).toBeNull();
  });
});
