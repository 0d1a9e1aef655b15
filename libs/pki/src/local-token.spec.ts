import { generateKeyPairSync } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@flotilla/testing';
import {
  LocalTokenError,
  isLocalToken,
  loadOrCreateTokenKey,
  readTokenKey,
  signLocalToken,
  verifyLocalToken,
} from './local-token';

const SA = { namespace: 'default', serviceAccount: 'alice' };

describe('local tokens', () => {
  it('keeps one owner-only key in the state folder and verifies the tokens it signed', () => {
    const dir = tempDir();
    const key = loadOrCreateTokenKey(dir);
    expect(statSync(join(dir, 'token-key.pem')).mode & 0o777).toBe(0o600);
    const token = signLocalToken(readTokenKey(dir), SA);
    expect(isLocalToken(token)).toBe(true);
    expect(verifyLocalToken(loadOrCreateTokenKey(dir), token)).toEqual(SA);
    expect(verifyLocalToken(key, token)).toEqual(SA);
  });

  it('refuses a token signed by another key, tampered, expired, or for another audience', () => {
    const key = loadOrCreateTokenKey(tempDir());
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const fails = (token: string, message: RegExp) => {
      expect(() => verifyLocalToken(key, token)).toThrow(LocalTokenError);
      expect(() => verifyLocalToken(key, token)).toThrow(message);
    };
    fails(signLocalToken(other, SA), /signature does not verify/);
    const [h, p, s] = signLocalToken(key, SA).split('.');
    const forged = Buffer.from(Buffer.from(p, 'base64url').toString().replace('alice', 'admin')).toString(
      'base64url',
    );
    fails(`${h}.${forged}.${s}`, /signature does not verify/);
    fails(signLocalToken(key, SA, { now: Date.now() - 7200_000 }), /expired/);
    fails(signLocalToken(key, SA, { audience: 'kubernetes' }), /do not include istio-ca/);
    fails('garbage', /not a JWT/);
  });

  it('says a token with no key file is an error naming the file', () => {
    const dir = tempDir();
    expect(() => readTokenKey(dir)).toThrow(`cannot read the local token key ${join(dir, 'token-key.pem')}`);
  });
});
