import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { SECRETS, createObject, getObject, replaceObject } from '@flotilla/kube';
import { bundlePem, certificatesFromPem, derToPem } from '@flotilla/pki';
import type { RootStore, SelfSignedRoot } from '@flotilla/pki';

/** Istio's name for the Secret holding the self-signed CA (security/pkg/pki/ca: caCertID). */
export const CA_SECRET_NAME = 'istio-ca-secret';
/** Istio's Secret type for it. */
export const CA_SECRET_TYPE = 'istio.io/ca-root';
/** The Secret's keys, as Istio names them: the signing root, its key, and the roots workloads trust. */
export const CA_SECRET_KEYS = {
  cert: 'ca-cert.pem',
  key: 'ca-key.pem',
  roots: 'root-cert.pem',
} as const;

const decode = (value: string | undefined) => (value ? Buffer.from(value, 'base64').toString('utf8') : '');
const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * The self-signed root in Kubernetes Secret istio-ca-secret in citadel's namespace, so every replica and every
 * restart signs with the same root. Writes carry the resourceVersion last read, so a replica that rotated with
 * stale data is refused (409) and takes up the stored root at its next check instead.
 */
export class SecretRootStore implements RootStore {
  readonly description: string;
  private resourceVersion: string | undefined;

  constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
    readonly name = CA_SECRET_NAME,
  ) {
    this.description = `Secret ${namespace}/${name}`;
  }

  async load(): Promise<SelfSignedRoot | undefined> {
    const secret = await getObject<V1Secret>(this.kc, SECRETS, this.namespace, this.name);
    this.resourceVersion = secret?.metadata?.resourceVersion;
    if (!secret) return undefined;
    const data = secret.data ?? {};
    const [certificate] = certificatesFromPem(decode(data[CA_SECRET_KEYS.cert]));
    const keyPem = decode(data[CA_SECRET_KEYS.key]);
    if (!certificate || !keyPem) {
      throw new Error(
        `${this.description} lacks ${CA_SECRET_KEYS.cert} or ${CA_SECRET_KEYS.key}; delete it to have citadel create a root`,
      );
    }
    const bundle = certificatesFromPem(decode(data[CA_SECRET_KEYS.roots]));
    return {
      keyPem,
      certificate,
      bundle: [certificate, ...bundle.filter((der) => !der.equals(certificate))],
    };
  }

  async save(root: SelfSignedRoot): Promise<void> {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: CA_SECRET_TYPE,
      metadata: { name: this.name, namespace: this.namespace, resourceVersion: this.resourceVersion },
      data: {
        [CA_SECRET_KEYS.cert]: encode(derToPem(root.certificate, 'CERTIFICATE')),
        [CA_SECRET_KEYS.key]: encode(root.keyPem),
        [CA_SECRET_KEYS.roots]: encode(bundlePem(root.bundle)),
      },
    };
    const stored = this.resourceVersion
      ? await replaceObject<V1Secret>(this.kc, SECRETS, secret)
      : await createObject<V1Secret>(this.kc, SECRETS, secret);
    this.resourceVersion = stored.metadata?.resourceVersion;
  }
}
