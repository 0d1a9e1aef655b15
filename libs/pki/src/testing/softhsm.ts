// SoftHSM2 tokens for the specs: each spec file makes its own, in the token folder jest.softhsm.cjs points
// SOFTHSM2_CONF at (SoftHSM reads the variable from the real environment, which Jest's copy cannot change).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';

export const MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** A new token labelled `<prefix>-<random>`, user PIN 1234, SO PIN 5678; returns its label. */
export function initTestToken(prefix: string): string {
  const label = `${prefix}-${randomBytes(4).toString('hex')}`;
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--pin', '1234', '--so-pin', '5678'],
    {
      stdio: 'pipe',
    },
  );
  return label;
}

/** Attributes of every private key labelled `keyLabel` on the token, read through a session of its own (PIN 1234). */
export function privateKeysOnToken(
  tokenLabel: string,
  keyLabel: string,
): { sensitive: boolean; extractable: boolean; valueReadable: boolean }[] {
  const lib = new pkcs11js.PKCS11();
  lib.load(MODULE);
  try {
    lib.C_Initialize();
  } catch (err) {
    if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test((err as Error).message)) throw err;
  }
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === tokenLabel)!;
  const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    try {
      lib.C_Login(session, pkcs11js.CKU_USER, '1234');
    } catch (err) {
      if (!/CKR_USER_ALREADY_LOGGED_IN/.test((err as Error).message)) throw err;
    }
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_LABEL, value: keyLabel },
    ]);
    const keys = lib.C_FindObjects(session, 16);
    lib.C_FindObjectsFinal(session);
    return keys.map((key) => {
      const [sensitive, extractable] = lib.C_GetAttributeValue(session, key, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
      ]);
      let valueReadable = true;
      try {
        lib.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]);
      } catch (err) {
        if (!/CKR_ATTRIBUTE_SENSITIVE/.test((err as Error).message)) throw err;
        valueReadable = false;
      }
      return {
        sensitive: (sensitive.value as Buffer)[0] === 1,
        extractable: (extractable.value as Buffer)[0] === 1,
        valueReadable,
      };
    });
  } finally {
    lib.C_CloseSession(session);
  }
}
