/**
 * Fuzzing the `/mesh` ingress client-certificate check (require_mtls on the plain port): forged,
 * mutated, duplicated and garbage headers never throw, and the check accepts exactly the two
 * documented proofs (nginx `ssl-client-verify: SUCCESS` with a subject or cert; an Envoy XFCC
 * element with a Hash and an identity), never anything weaker.
 */
import fc from 'fast-check';
import type { IncomingHttpHeaders } from 'node:http';
import { parseXfcc, verifyIngressClientCert } from './ingress-client-cert';

let totalCases = 0;
afterAll(() => {
  process.stdout.write(`FUZZ_CASES ingress-client-cert.fuzz.spec: ${totalCases} fast-check cases\n`);
});

const HASH = 'a'.repeat(64);
const verifyValues = fc.oneof(
  fc.constantFrom('SUCCESS', 'success', 'FAILED:unknown ca', 'NONE', ' SUCCESS ', 'SUCCESS\u0000', 'SUCCESSFUL', ''),
  fc.string({ maxLength: 20 }),
);
const xfccValues = fc.oneof(
  fc.constantFrom(
    `Hash=${HASH};Subject="CN=hub-x"`,
    `Hash=${HASH}`,
    `Subject="CN=hub-x"`,
    `Hash=xyz;Subject="CN=hub-x"`,
    `Hash=${HASH};Subject="CN=unterminated`,
    `By=spiffe://a;Hash=${HASH};URI=spiffe://b,Hash=${HASH}`,
    ';;;',
    '=',
  ),
  fc.string({ maxLength: 80 }),
);
const maybeTwice = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | T[]> => fc.oneof({ weight: 4, arbitrary: a }, { weight: 1, arbitrary: fc.array(a, { minLength: 0, maxLength: 3 }) });

const headers: fc.Arbitrary<IncomingHttpHeaders> = fc.record(
  {
    'ssl-client-verify': maybeTwice(verifyValues),
    'ssl-client-subject-dn': maybeTwice(fc.oneof(fc.constant('CN=hub-x'), fc.constant(''), fc.string({ maxLength: 30 }))),
    'ssl-client-cert': maybeTwice(fc.oneof(fc.constant(''), fc.string({ maxLength: 30 }))),
    'x-forwarded-client-cert': maybeTwice(xfccValues),
    'x-client-cert': fc.string({ maxLength: 30 }),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<IncomingHttpHeaders>;

function single(v: string | string[] | undefined): string | undefined {
  if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined;
  return v;
}

describe('ingress client-cert check fuzz', () => {
  it('random and forged header sets never throw; an accepted set always carries a documented proof', () => {
    fc.assert(
      fc.property(headers, (h) => {
        const v = verifyIngressClientCert(h, { requireMtls: true });
        if (!v.ok) return;
        const verify = single(h['ssl-client-verify']);
        if (verify !== undefined) {
          expect(verify.trim()).toBe('SUCCESS');
          const subject = single(h['ssl-client-subject-dn'])?.trim() ?? '';
          const cert = single(h['ssl-client-cert'] as string | string[] | undefined)?.trim() ?? '';
          expect(subject !== '' || cert !== '').toBe(true);
          expect(v.via).toBe('nginx');
        } else {
          expect(v.via).toBe('envoy');
          const elements = parseXfcc(single(h['x-forwarded-client-cert'] as string | string[] | undefined)!.trim());
          expect(elements?.some((e) => /^[0-9a-fA-F]{32,128}$/.test(e.get('hash') ?? ''))).toBe(true);
        }
        // A header sent twice is never accepted.
        for (const k of ['ssl-client-verify', 'x-forwarded-client-cert']) {
          const raw = h[k];
          if (Array.isArray(raw)) expect(raw.length).toBe(1);
        }
      }),
      { numRuns: 3000 },
    );
    totalCases += 3000;
  });

  it('with require_mtls off nothing is checked; with it on, no header set is accepted without a verify or XFCC header', () => {
    fc.assert(
      fc.property(headers, (h) => {
        expect(verifyIngressClientCert(h, { requireMtls: false }).ok).toBe(true);
        const bare = { ...h };
        delete bare['ssl-client-verify'];
        delete bare['x-forwarded-client-cert'];
        expect(verifyIngressClientCert(bare, { requireMtls: true }).ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
    totalCases += 1000;
  });

  it('parseXfcc never throws on arbitrary text, long or short', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), xfccValues, fc.constant('a=b;'.repeat(5000))), (s) => {
        const r = parseXfcc(s);
        if (r !== null) for (const e of r) for (const k of e.keys()) expect(k).toMatch(/^[a-z]+$/);
      }),
      { numRuns: 1000 },
    );
    totalCases += 1000;
  });
});
