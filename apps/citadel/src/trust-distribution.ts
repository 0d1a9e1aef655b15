import type { KubeConfig, KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { CONFIG_MAPS, NAMESPACES, ResourceWatcher, ensureObject } from '@flotilla/kube';
import type { Logger } from '@flotilla/service-kit';

/** Istio's ConfigMap with the roots workloads trust, in every namespace (security/pkg/k8s/controller). */
export const ROOT_CERT_CONFIG_MAP = 'istio-ca-root-cert';
export const ROOT_CERT_KEY = 'root-cert.pem';
/** The CA's CRL, published the same way. */
export const CRL_CONFIG_MAP = 'istio-ca-crl';
export const CRL_KEY = 'ca-crl.pem';
/** Istio labels the ConfigMaps it distributes so its webhooks and tools can select them. */
const LABELS = { 'istio.io/config': 'true' };

interface Published {
  name: string;
  key: string;
  value: string | undefined;
}

/**
 * Root distribution, as Istio's namespace controller does it: ConfigMap istio-ca-root-cert (key root-cert.pem,
 * the trust bundle) and istio-ca-crl (key ca-crl.pem, the CRL) in every namespace, written when a namespace
 * appears and again in every namespace when the bundle or the CRL changes. Namespaces come from an informer on
 * /api/v1/namespaces; a namespace being deleted is skipped. Writes go one at a time; a failed write is logged
 * and the whole set is written again after `retryMs`.
 */
export class TrustDistributor {
  private readonly watcher: ResourceWatcher;
  private readonly documents: Published[] = [
    { name: ROOT_CERT_CONFIG_MAP, key: ROOT_CERT_KEY, value: undefined },
    { name: CRL_CONFIG_MAP, key: CRL_KEY, value: undefined },
  ];
  private queue: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly logger: Logger,
    private readonly retryMs = 5000,
  ) {
    this.watcher = new ResourceWatcher(kc, NAMESPACES, retryMs);
    this.watcher.on('change', (kind: string, ns: KubernetesObject) => {
      if (kind !== 'delete' && ns.metadata?.name) this.enqueue([ns.metadata.name]);
    });
    this.watcher.on('error', (err: Error) =>
      this.logger.warn({ err: err.message }, 'watching namespaces failed; retrying'),
    );
  }

  /** Starts watching namespaces; resolves once every namespace listed at start has been written. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.watcher.start();
    await this.idle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.watcher.stop();
    await this.queue;
  }

  /** The trust bundle (PEM): written to every namespace's istio-ca-root-cert when it differs. */
  setTrustBundle(pem: string): void {
    this.set(ROOT_CERT_CONFIG_MAP, pem);
  }

  /** The CRL (PEM): written to every namespace's istio-ca-crl when it differs. */
  setCrl(pem: string): void {
    this.set(CRL_CONFIG_MAP, pem);
  }

  /** Resolves when every write asked for so far is done. */
  idle(): Promise<void> {
    return this.queue;
  }

  private set(name: string, value: string): void {
    const document = this.documents.find((d) => d.name === name)!;
    if (document.value === value) return;
    document.value = value;
    this.enqueue(this.namespaces());
  }

  private namespaces(): string[] {
    return this.watcher
      .list()
      .filter((ns) => (ns as { status?: { phase?: string } }).status?.phase !== 'Terminating')
      .map((ns) => ns.metadata?.name)
      .filter((name): name is string => !!name);
  }

  private enqueue(namespaces: string[]): void {
    this.queue = this.queue.then(async () => {
      if (this.stopped) return;
      let failed = false;
      for (const namespace of namespaces) {
        for (const document of this.documents) {
          if (document.value === undefined) continue;
          try {
            await this.write(namespace, document.name, document.key, document.value);
          } catch (err) {
            failed = true;
            this.logger.warn(
              { namespace, configMap: document.name, err: (err as Error).message },
              'cannot publish to the namespace; retrying',
            );
          }
        }
      }
      if (failed) this.retryLater();
    });
  }

  private retryLater(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.enqueue(this.namespaces());
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private async write(namespace: string, name: string, key: string, value: string): Promise<void> {
    const { written } = await ensureObject<V1ConfigMap>(
      this.kc,
      CONFIG_MAPS,
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace, labels: LABELS },
        data: { [key]: value },
      },
      (stored) => stored.data?.[key] !== value,
    );
    if (written) this.logger.info({ namespace, configMap: name }, 'published');
  }
}
