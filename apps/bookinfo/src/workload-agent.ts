// One mesh agent per sample workload, as each pod in Istio has its own: it proves the workload's service account
// to citadel with a local token (what `flotilla token` prints), gets and rotates the workload's certificate, and
// writes the file_watcher files that the workload's gRPC credentials read (see mesh-tls.ts).
import { join } from 'node:path';
import { readTokenKey, signLocalToken } from '@flotilla/pki';
import { CertificateFetcher, SecretManager } from '@flotilla/mesh-agent';
import type { SecretSource, TrustBundleFile, WorkloadSecret } from '@flotilla/mesh-agent';
import { spiffeIdOf } from './mesh-tls';

export interface CitadelSettings {
  /** citadel's gRPC address (TLS), host:port. */
  address: string;
  /** The PEM root(s) that verify citadel and that the workloads trust, re-read for every certificate request. */
  trustBundle: TrustBundleFile;
  /** citadel's state folder, where the local token key is (flotilla up: <state>/citadel). */
  tokenKeyDir: string;
  /** Name citadel's serving certificate is checked against; it names localhost in the local mesh. */
  serverName: string;
  /** Requested certificate lifetime in seconds; 0 lets citadel choose (24 h by default). */
  ttlSeconds: number;
}

/** Lifetime of each token the agent signs for itself; a new one is made for every certificate request. */
const TOKEN_TTL_SECONDS = 300;

export interface WorkloadAgent {
  /** The identity the agent asks for. */
  spiffeId: string;
  /** Where cert-chain.pem, key.pem and root-cert.pem are written. */
  certDir: string;
  manager: SecretManager;
}

/** A CertificateFetcher for one service account that signs its own local token for each request. */
export function citadelSource(
  citadel: CitadelSettings,
  namespace: string,
  serviceAccount: string,
): SecretSource {
  return new CertificateFetcher({
    address: citadel.address,
    rootCertPem: citadel.trustBundle.read,
    spiffeId: spiffeIdOf(namespace, serviceAccount),
    serverName: citadel.serverName,
    ttlSeconds: citadel.ttlSeconds,
    token: () =>
      signLocalToken(
        readTokenKey(citadel.tokenKeyDir),
        { namespace, serviceAccount },
        { ttlSeconds: TOKEN_TTL_SECONDS },
      ),
  });
}

/**
 * Starts an agent writing into `<certRoot>/<name>`; resolves once its first certificate is on disk. Fetch
 * failures are retried with backoff by the SecretManager and reported through `onError`.
 */
export async function startWorkloadAgent(
  source: SecretSource,
  spiffeId: string,
  certRoot: string,
  name: string,
  onError: (message: string) => void,
): Promise<WorkloadAgent & { first: WorkloadSecret }> {
  const certDir = join(certRoot, name);
  const manager = new SecretManager({ source, outputDir: certDir });
  manager.on('fetchError', (err, retryInMs) =>
    onError(`${name}: certificate for ${spiffeId} failed (${err.message}); retrying in ${retryInMs} ms`),
  );
  const first = await manager.start();
  return { spiffeId, certDir, manager, first };
}
