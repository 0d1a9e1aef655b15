// Reading a SoftHSM2 token's key objects the way the specs check them, through sessions of their own.
import * as pkcs11js from 'pkcs11js';
import { SOFTHSM_MODULE } from '@flotilla/testing';

/** Runs `use` in a session of its own on the token, logged in as the user (PIN 1234). */
function withUserSession<T>(
  tokenLabel: string,
  use: (lib: pkcs11js.PKCS11, session: pkcs11js.Handle) => T,
): T {
  const lib = new pkcs11js.PKCS11();
  lib.load(SOFTHSM_MODULE);
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
    return use(lib, session);
  } finally {
    lib.C_CloseSession(session);
  }
}

function objectsLabelled(
  lib: pkcs11js.PKCS11,
  session: pkcs11js.Handle,
  objectClass: number,
  keyLabel: string,
): pkcs11js.Handle[] {
  lib.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_LABEL, value: keyLabel },
  ]);
  const objects = lib.C_FindObjects(session, 16);
  lib.C_FindObjectsFinal(session);
  return objects;
}

/** Attributes of every private key labelled `keyLabel` on the token, read through a session of its own (PIN 1234). */
export function privateKeysOnToken(
  tokenLabel: string,
  keyLabel: string,
): { sensitive: boolean; extractable: boolean; valueReadable: boolean }[] {
  return withUserSession(tokenLabel, (lib, session) =>
    objectsLabelled(lib, session, pkcs11js.CKO_PRIVATE_KEY, keyLabel).map((key) => {
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
    }),
  );
}

/** The CKA_IDs (hex, sorted) of the private and of the public key objects labelled `keyLabel` on the token. */
export function keyIdsOnToken(tokenLabel: string, keyLabel: string): { private: string[]; public: string[] } {
  return withUserSession(tokenLabel, (lib, session) => {
    const ids = (objectClass: number) =>
      objectsLabelled(lib, session, objectClass, keyLabel)
        .map((object) => {
          const [id] = lib.C_GetAttributeValue(session, object, [{ type: pkcs11js.CKA_ID }]);
          return ((id.value as Buffer | undefined) ?? Buffer.alloc(0)).toString('hex');
        })
        .sort();
    return { private: ids(pkcs11js.CKO_PRIVATE_KEY), public: ids(pkcs11js.CKO_PUBLIC_KEY) };
  });
}
