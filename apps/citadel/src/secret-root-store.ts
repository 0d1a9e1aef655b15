import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { KubeApiError, SECRETS, createObject, getObject, replaceObject } from '@flotilla/kube';
import { RootStoreConflictError, bundlePem, certificatesFromPem, derToPem } from '@flotilla/pki';
import type { RootStore, SoftwareRootKey, StoredRoot, TokenRootKey } from '@flotilla/pki';

/** Istio's name for the Secret holding the self-signed CA (security/pkg/pki/ca: caCertID). */
export const CA_SECRET_NAME = 'istio-ca-secret';
/** Istio's Secret type for it. */
export const CA_SECRET_TYPE = 'istio.io/ca-root';
/**
 * The Secret's keys: the signing root, the roots workloads trust, and its key, as Istio names them; for a key on a
 * PKCS #11 token, in place of ca-key.pem, the key's RFC 7512 URI (Flotilla's own name, absent from Istio).
 */
export const CA_SECRET_KEYS = {
  cert: 'ca-cert.pem',
  key: 'ca-key.pem',
  keyUri: 'ca-key-pkcs11-uri',
  roots: 'root-cert.pem',
} as const;

const decode = (value: string | undefined) => (value ? Buffer.from(value, 'base64').toString('utf8') : '');
const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** How a root's key appears in the Secret (decoded data in, text entries out). */
export interface SecretKeyEntries<K extends object> {
  /** What the Secret holds of the key; throws, naming the Secret (`where`), when it holds the other custody's. */
  read(data: Record<string, string>, where: string): K;
  write(key: K): Record<string, string>;
}

/** A software key: its PKCS #8 PEM in ca-key.pem, as Istio keeps it. */
export const SOFTWARE_KEY_ENTRIES: SecretKeyEntries<SoftwareRootKey> = {
  read(data, where) {
    const keyPem = data[CA_SECRET_KEYS.key];
    if (keyPem) return { keyPem };
    if (data[CA_SECRET_KEYS.keyUri]) {
      throw new Error(
        `${where} holds a root whose key is on a PKCS #11 token (${data[CA_SECRET_KEYS.keyUri]}); start citadel with --pkcs11-module for that token`,
      );
    }
    throw new Error(`${where} lacks ${CA_SECRET_KEYS.key}; delete it to have citadel create a root`);
  },
  write: (key) => ({ [CA_SECRET_KEYS.key]: key.keyPem }),
};

/**
 * A key on a PKCS #11 token: never the key, only its URI in ca-key-pkcs11-uri (the root's public key is what finds
 * it on the token). A Secret with ca-key.pem holds a software key, which a token-keyed citadel refuses to take.
 */
export const TOKEN_KEY_ENTRIES: SecretKeyEntries<TokenRootKey> = {
  read(data, where) {
    if (data[CA_SECRET_KEYS.key]) {
      throw new Error(
        `${where} holds a software CA key (${CA_SECRET_KEYS.key}), which a citadel with --pkcs11-module does not sign with; run citadel without --pkcs11-module, or delete the Secret to have citadel create a root for the token key`,
      );
    }
    const keyUri = data[CA_SECRET_KEYS.keyUri];
    return keyUri ? { keyUri } : {};
  },
  write(key) {
    const entries: Record<string, string> = {};
    if (key.keyUri) entries[CA_SECRET_KEYS.keyUri] = key.keyUri;
    return entries;
  },
};

/**
 * The self-signed root in Kubernetes Secret istio-ca-secret in citadel's namespace, so every replica and every
 * restart signs with the same root: ca-cert.pem, root-cert.pem (the trust bundle, current root first) and the key
 * as `entries` keep it (ca-key.pem, or for a token key only its URI). Writes carry the resourceVersion last read,
 * so a replica that stored with stale data is refused (409, RootStoreConflictError) and takes up the stored
 * root instead.
 */
export class SecretRootStore<K extends object> implements RootStore<StoredRoot<K>> {
  readonly description: string;
  private resourceVersion: string | undefined;

  constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
    private readonly entries: SecretKeyEntries<K>,
    readonly name = CA_SECRET_NAME,
  ) {
    this.description = `Secret ${namespace}/${name}`;
  }

  async load(): Promise<StoredRoot<K> | undefined> {
    const secret = await getObject<V1Secret>(this.kc, SECRETS, this.namespace, this.name);
    this.resourceVersion = secret?.metadata?.resourceVersion;
    if (!secret) return undefined;
    const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, decode(v)]));
    const [certificate] = certificatesFromPem(data[CA_SECRET_KEYS.cert] ?? '');
    if (!certificate) {
      throw new Error(
        `${this.description} lacks ${CA_SECRET_KEYS.cert}; delete it to have citadel create a root`,
      );
    }
    const key = this.entries.read(data, this.description);
    const bundle = certificatesFromPem(data[CA_SECRET_KEYS.roots] ?? '');
    return {
      ...key,
      certificate,
      bundle: [certificate, ...bundle.filter((der) => !der.equals(certificate))],
    };
  }

  async save(root: StoredRoot<K>): Promise<void> {
    const entries: Record<string, string> = {
      [CA_SECRET_KEYS.cert]: derToPem(root.certificate, 'CERTIFICATE'),
      ...this.entries.write(root),
      [CA_SECRET_KEYS.roots]: bundlePem(root.bundle),
    };
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: CA_SECRET_TYPE,
      metadata: { name: this.name, namespace: this.namespace, resourceVersion: this.resourceVersion },
      data: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, encode(v)])),
    };
    try {
      const stored = this.resourceVersion
        ? await replaceObject<V1Secret>(this.kc, SECRETS, secret)
        : await createObject<V1Secret>(this.kc, SECRETS, secret);
      this.resourceVersion = stored.metadata?.resourceVersion;
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 409) {
        throw new RootStoreConflictError(
          `${this.description} changed since citadel read it (another replica stored a root): ${err.message}`,
          { cause: err },
        );
      }
      throw err;
    }
  }
}
