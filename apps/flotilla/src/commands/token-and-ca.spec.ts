import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateTokenKey, readRevocations, verifyLocalToken } from '@flotilla/pki';
import { revoke } from './ca';
import { TokenCommandError, makeToken } from './token';

const temp = () => mkdtempSync(join(tmpdir(), 'flotilla-cli-'));

describe('flotilla token', () => {
  it('signs with the key in <state>/citadel, where flotilla up keeps it, a token citadel verifies', () => {
    const state = temp();
    const key = loadOrCreateTokenKey(join(state, 'citadel'));
    const token = makeToken({ state, namespace: 'shop', serviceAccount: 'bob', ttl: 60 });
    expect(verifyLocalToken(key, token)).toEqual({ namespace: 'shop', serviceAccount: 'bob' });
    expect(() => verifyLocalToken(key, token, { now: Date.now() + 61_000 })).toThrow(/expired/);
  });

  it('also takes citadel’s own --state-dir, and says what to do when there is no key', () => {
    const dir = temp();
    const key = loadOrCreateTokenKey(dir);
    expect(
      verifyLocalToken(key, makeToken({ state: dir, namespace: 'a', serviceAccount: 'b', ttl: 60 })),
    ).toEqual({
      namespace: 'a',
      serviceAccount: 'b',
    });
    const empty = temp();
    expect(() => makeToken({ state: empty, namespace: 'a', serviceAccount: 'b', ttl: 60 })).toThrow(
      TokenCommandError,
    );
    expect(() => makeToken({ state: empty, namespace: 'a', serviceAccount: 'b', ttl: 60 })).toThrow(
      /start the local mesh first \(flotilla up --state/,
    );
  });
});

describe('flotilla ca revoke', () => {
  it('records the serial (as openssl prints it) in citadel’s revocations file, once', () => {
    const state = temp();
    mkdirSync(join(state, 'citadel'));
    writeFileSync(join(state, 'citadel', 'root-cert.pem'), '');
    const now = new Date('2030-01-01T00:00:00Z');
    expect(revoke({ state, serial: '4A:1B:0C', reason: 'keyCompromise' }, now)).toMatch(
      /^revoked 4a1b0c \(keyCompromise\)/,
    );
    expect(revoke({ state, serial: '4a1b0c', reason: 'superseded' })).toMatch(
      /4a1b0c was already revoked on 2030-01-01T00:00:00.000Z \(keyCompromise\)/,
    );
    expect(readRevocations(join(state, 'citadel'))).toEqual([
      { serial: '4a1b0c', revokedAt: '2030-01-01T00:00:00.000Z', reason: 'keyCompromise' },
    ]);
  });

  it('refuses a folder without citadel state and a serial that is not hex', () => {
    expect(() => revoke({ state: temp(), serial: '01', reason: 'unspecified' })).toThrow(/no citadel state/);
    const state = temp();
    writeFileSync(join(state, 'root-cert.pem'), '');
    expect(() => revoke({ state, serial: 'zz', reason: 'unspecified' })).toThrow(/not a hex serial/);
  });
});
