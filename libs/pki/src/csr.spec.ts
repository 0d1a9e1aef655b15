import fc from 'fast-check';
import { opensslCsr, tempDir } from '@flotilla/testing';
import { CaError } from './ca-error';
import { csrPemToDer, verifyCsr } from './csr';

const ALICE = 'spiffe://cluster.local/ns/default/sa/alice';

/** verifyCsr either returns or throws a CaError of kind invalid-request: never anything else. */
function outcome(der: Buffer): 'ok' | 'refused' {
  try {
    verifyCsr(der);
    return 'ok';
  } catch (err) {
    if (err instanceof CaError && err.kind === 'invalid-request') return 'refused';
    throw err;
  }
}

describe('CSR verification (native)', () => {
  const dir = tempDir();
  const good = csrPemToDer(opensslCsr(dir, 'alice', { uris: [ALICE] }));

  it('reads the requested URI SAN and the key of an openssl CSR', () => {
    const csr = verifyCsr(good);
    expect(csr.subjectAltNames.uris).toEqual([ALICE]);
    expect(csr.publicKey.asymmetricKeyType).toBe('ec');
  });

  it('refuses PEM without a CSR, and two CSRs at once', () => {
    expect(() => csrPemToDer('hello')).toThrow(/no PEM CERTIFICATE REQUEST/);
    const pem = opensslCsr(dir, 'alice', { uris: [ALICE] });
    expect(() => csrPemToDer(pem + pem)).toThrow(/more than one CSR/);
  });

  it('refuses random bytes without crashing (fuzzed)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expect(outcome(Buffer.from(bytes))).toBe('refused');
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every corruption of a real CSR, or accepts only ones whose signature still verifies (fuzzed)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (flips) => {
          const der = Buffer.from(good);
          for (const [at, mask] of flips) der[at] ^= mask;
          // A flip can only leave the CSR acceptable if it never touched the signed bytes or the signature,
          // which for this fixed CSR means: never. So every corruption is refused.
          expect(outcome(der)).toBe('refused');
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('refuses truncations and extensions of a real CSR (fuzzed)', () => {
    fc.assert(
      fc.property(fc.nat({ max: good.length - 1 }), fc.uint8Array({ maxLength: 8 }), (cut, tail) => {
        expect(outcome(Buffer.concat([good.subarray(0, cut), tail]))).toBe('refused');
      }),
      { numRuns: 1000 },
    );
  });
});
