// The sample mesh's process (`flotilla up` runs it once the mesh is healthy): the five bookinfo workloads and a
// traffic loop, all in one process because grpc-js-xds keeps one xDS client per process anyway. Each workload has
// its own mesh agent and identity and serves mTLS; with --mixer each checks and reports its calls through mixer.
import { parseArgs } from 'node:util';
import type { Server } from '@grpc/grpc-js';
import { register as registerXdsResolver } from '@grpc/grpc-js-xds';
import type { MixerClient } from '@flotilla/mixer-client';
import { TrustBundleFile } from '@flotilla/mesh-agent';
import type { SecretManager } from '@flotilla/mesh-agent';
import { Clients, TrafficTally, WORKLOADS, call, startWorkload } from './bookinfo';
import type { Workload } from './bookinfo';
import { FileWatcherTransport, PlaintextTransport, serviceAccountOf, spiffeIdOf } from './mesh-tls';
import type { WorkloadTransport } from './mesh-tls';
import { guardedByMixer, mixerClient } from './mixer-policy';
import { citadelSource, startWorkloadAgent } from './workload-agent';
import type { CitadelSettings } from './workload-agent';

const USAGE =
  'usage: bookinfo --xds <host:port> (--citadel <host:port> --citadel-root-cert <file> --token-key-dir <dir> ' +
  '--cert-dir <dir> | --plaintext) [--mixer <host:port>] [--host 127.0.0.1] [--namespace bookinfo] ' +
  '[--interval-ms 100] [--summary-seconds 5] [--cert-ttl-seconds 0]';

/** The traffic loop's own identity: it calls productpage as a client of the mesh. */
const TRAFFIC = 'traffic';

interface Settings {
  xds: string;
  host: string;
  namespace: string;
  intervalMs: number;
  summarySeconds: number;
  /** Absent with --plaintext. */
  citadel?: CitadelSettings & { certDir: string };
  mixer?: string;
}

function parseSettings(): Settings | string {
  const { values } = parseArgs({
    options: {
      xds: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      namespace: { type: 'string', default: 'bookinfo' },
      'interval-ms': { type: 'string', default: '100' },
      'summary-seconds': { type: 'string', default: '5' },
      citadel: { type: 'string' },
      'citadel-root-cert': { type: 'string' },
      'citadel-server-name': { type: 'string', default: 'localhost' },
      'token-key-dir': { type: 'string' },
      'cert-dir': { type: 'string' },
      'cert-ttl-seconds': { type: 'string', default: '0' },
      plaintext: { type: 'boolean', default: false },
      mixer: { type: 'string' },
    },
  });
  const intervalMs = Number(values['interval-ms']);
  const summarySeconds = Number(values['summary-seconds']);
  const ttlSeconds = Number(values['cert-ttl-seconds']);
  if (!values.xds) return '--xds is required';
  if (!(intervalMs > 0) || !(summarySeconds > 0)) return '--interval-ms and --summary-seconds must be > 0';
  if (!(ttlSeconds >= 0)) return '--cert-ttl-seconds must be >= 0';
  const settings: Settings = {
    xds: values.xds,
    host: values.host!,
    namespace: values.namespace!,
    intervalMs,
    summarySeconds,
    mixer: values.mixer,
  };
  if (values.plaintext) return settings;
  const missing = ['citadel', 'citadel-root-cert', 'token-key-dir', 'cert-dir'].filter(
    (name) => !values[name as keyof typeof values],
  );
  if (missing.length > 0) return `mTLS needs ${missing.map((m) => `--${m}`).join(', ')} (or --plaintext)`;
  let trustBundle: TrustBundleFile;
  try {
    trustBundle = new TrustBundleFile(values['citadel-root-cert']!);
  } catch (err) {
    return `--citadel-root-cert: ${(err as Error).message}`;
  }
  settings.citadel = {
    address: values.citadel!,
    trustBundle,
    tokenKeyDir: values['token-key-dir']!,
    serverName: values['citadel-server-name']!,
    ttlSeconds,
    certDir: values['cert-dir']!,
  };
  return settings;
}

/** Gets each workload's (and the traffic loop's) first certificate; resolves with a transport per name. */
async function startAgents(
  settings: Settings,
  managers: SecretManager[],
): Promise<Map<string, WorkloadTransport>> {
  const names = [...WORKLOADS.map(nameOf), TRAFFIC];
  const citadel = settings.citadel;
  if (!citadel) return new Map(names.map((n) => [n, new PlaintextTransport()]));
  const log = (message: string) => process.stderr.write(`bookinfo: ${message}\n`);
  const agents = await Promise.all(
    names.map((name) => {
      const serviceAccount = serviceAccountOf(name === TRAFFIC ? TRAFFIC : appOf(name));
      const source = citadelSource(citadel, settings.namespace, serviceAccount);
      const spiffeId = spiffeIdOf(settings.namespace, serviceAccount);
      return startWorkloadAgent(source, spiffeId, citadel.certDir, name, log);
    }),
  );
  managers.push(...agents.map((a) => a.manager));
  // citadel rewrites its trust bundle when its root rotates: every agent then trusts the new bundle and gets a
  // certificate under the new root at once, instead of at its next rotation. (The watch does not hold the process.)
  citadel.trustBundle.watch(
    () => {
      log(`trust bundle ${citadel.trustBundle.path} changed; rotating every workload certificate`);
      for (const a of agents) a.manager.rotateNow();
    },
    (err) => log(`${err.message}; still trusting the last good bundle`),
  );
  process.stdout.write(
    `bookinfo: mTLS certificates from citadel at ${citadel.address} in ${citadel.certDir}: ` +
      `${agents.map((a, i) => `${names[i]} as ${a.spiffeId}`).join(', ')}\n`,
  );
  return new Map(agents.map((a, i) => [names[i], new FileWatcherTransport(a.certDir)]));
}

const nameOf = (w: Workload) => `${w.app}-${w.version}`;
const appOf = (name: string) => WORKLOADS.find((w) => nameOf(w) === name)!.app;

async function run(settings: Settings): Promise<void> {
  const servers: Server[] = [];
  const allClients: Clients[] = [];
  const managers: SecretManager[] = [];
  let mixer: MixerClient | undefined;
  const stop = () => {
    for (const c of allClients) c.close();
    for (const s of servers) s.forceShutdown();
    for (const m of managers) m.stop();
    void (mixer?.close() ?? Promise.resolve()).finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (process.env.FLOTILLA_SUPERVISED) {
    // `flotilla up` holds stdin open as a lifeline: nothing outlives a killed supervisor.
    process.stdin.on('end', stop).on('close', stop).resume();
  }

  const transports = await startAgents(settings, managers);
  if (settings.mixer) {
    mixer = mixerClient(settings.mixer, (message) => process.stderr.write(`bookinfo: ${message}\n`));
  }
  const clientsOf = (name: string) => {
    const clients = new Clients(settings.namespace, transports.get(name)!);
    allClients.push(clients);
    return clients;
  };
  const started = await Promise.all(
    WORKLOADS.map((w) =>
      startWorkload(w, {
        host: settings.host,
        transport: transports.get(nameOf(w))!,
        clients: clientsOf(nameOf(w)),
        deadlineMs: 2000,
        guard: mixer ? (handler) => guardedByMixer(mixer!, w, settings.namespace, handler) : undefined,
      }),
    ),
  );
  servers.push(...started.map((s) => s.server));
  process.stdout.write(
    `bookinfo: ${WORKLOADS.map((w) => `${nameOf(w)} on :${w.port}`).join(', ')}` +
      ` (${settings.citadel ? 'mTLS' : 'plaintext'}${mixer ? `, mixer at ${settings.mixer}` : ''}); ` +
      `calling productpage every ${settings.intervalMs} ms through pilot at ${settings.xds}\n`,
  );
  const tally = new TrafficTally();
  const productpage = clientsOf(TRAFFIC).get('productpage');
  setInterval(() => {
    call(productpage, 5000).then(
      (response) => tally.record(response),
      (err: Error) => tally.record(err),
    );
  }, settings.intervalMs);
  setInterval(
    () => process.stdout.write(`${tally.summary(settings.summarySeconds)}\n`),
    settings.summarySeconds * 1000,
  );
}

function main(): void {
  const settings = parseSettings();
  if (typeof settings === 'string') {
    process.stderr.write(`bookinfo: ${settings}\n${USAGE}\n`);
    process.exit(2);
  }
  // grpc-js-xds reads its bootstrap when the first xds:/// channel resolves: pilot's plaintext ADS port, the
  // proxyless generator, and a node in the bookinfo namespace so that pilot applies that namespace's config.
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [
      { server_uri: settings.xds, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
    ],
    node: {
      id: `sidecar~${settings.host}~bookinfo-${process.pid}.${settings.namespace}~${settings.namespace}.svc.cluster.local`,
      locality: { region: 'local', zone: 'zone-a' },
      metadata: { GENERATOR: 'grpc' },
    },
  });
  registerXdsResolver();
  run(settings).catch((err: Error) => {
    process.stderr.write(`bookinfo: could not start its workloads: ${err.message}\n`);
    process.exit(1);
  });
}

main();
