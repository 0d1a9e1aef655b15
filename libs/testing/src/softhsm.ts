// SoftHSM2 tokens for the PKCS #11 specs: each spec file makes its own, in the token folder its Jest global setup
// (libs/pki/jest.softhsm.cjs) points SOFTHSM2_CONF at.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Debian's SoftHSM2 PKCS #11 module. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** A new token labelled `<prefix>-<random>`, user PIN 1234, SO PIN 5678; returns its label. */
export function initSoftHsmToken(prefix: string): string {
  const label = `${prefix}-${randomBytes(4).toString('hex')}`;
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--pin', '1234', '--so-pin', '5678'],
    { stdio: 'pipe' },
  );
  return label;
}
