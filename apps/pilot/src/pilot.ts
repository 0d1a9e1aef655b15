import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { McpSink } from '@flotilla/mcp';
import { TrustBundleFile } from '@flotilla/mesh-agent';
import { GrpcServer, createApp, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Logger } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import { AdsServer, syncDebugHandler } from '@flotilla/xds';
import { Gauge } from 'prom-client';
import { adszHandler, configDumpHandler, configzHandler } from './debug';
import { MeshModel, PILOT_COLLECTIONS } from './mesh-model';
import { checkSecureXdsOptions, pilotCommand } from './options';
import type { PilotOptions } from './options';
import { secureXdsCredentials } from './secure-xds';
import { readTokenKey, signLocalToken, spiffeIdOf, unverifiedJwtClaims } from '@flotilla/pki';
import type { SecureXdsCredentials } from './secure-xds';
import { APP_VERSION } from './version';
import { PilotXds } from './xds';

/** How long an xDS request waits for the first complete config from galley before it is answered anyway. */
const INITIAL_SYNC_WAIT_MS = 10_000;

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const command = pilotCommand();
  const options = parseOptions<PilotOptions>(command, argv);
  // Flags that only make sense together are a usage error, reported as commander reports a bad flag.
  const problem = checkSecureXdsOptions(options);
  if (problem) command.error(`error: ${problem}`);
  let secure: SecureXds | undefined;
  const app = createApp({
    component: 'pilot',
    version: APP_VERSION,
    options,
    extraGrpcServers: [{ name: 'xds', port: options.xdsPort, portOption: '--xds-port' }],
    // xDS streams never end by themselves: end them (clients reconnect) before the gRPC servers drain.
    beforeDrain: () => ads.close(),
    onStop: async () => {
      await secure?.stop(options.shutdownTimeout * 1000);
      sink.stop();
      await tracing.shutdown();
    },
  });
  const { logger, metrics } = app;

  const model = new MeshModel({ domainSuffix: options.domainSuffix, trustDomain: options.trustDomain });
  const sink = new McpSink({
    address: options.galleyAddress,
    node: { id: `pilot~${hostname()}~${process.pid}`, cluster: 'pilot' },
    collections: PILOT_COLLECTIONS,
    // Delta by default: a change to one object of a collection of thousands sends, decodes and hashes that object
    // alone, not the whole collection again.
    mode: options.mcpProtocol,
    logger,
  });
  const synced = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      logger.warn(
        { galley: options.galleyAddress },
        'no complete config from galley yet; serving what there is',
      );
      resolve();
    }, INITIAL_SYNC_WAIT_MS);
    timer.unref();
    void sink.waitForSync().then(() => {
      clearTimeout(timer);
      resolve();
    });
  });

  const xds = new PilotXds({ model, logger, ready: synced });
  const ads = new AdsServer({
    logger,
    registry: metrics,
    generators: xds.xdsGenerators(),
    debounce: { afterMs: options.debounceAfter, maxMs: options.debounceMax, endpoints: options.edsDebounce },
    maxConcurrentPushes: options.maxConcurrentPushes,
    controlPlaneId: `pilot-${hostname()}-${process.pid}`,
  });
  app.extraGrpc.get('xds')!.addService(ads.definition, ads.implementation);
  xds.wire(ads);
  if (options.citadelAddress) secure = new SecureXds(options, ads, logger);

  new Gauge({
    name: 'pilot_services',
    help: 'Total services known to pilot.',
    registers: [metrics],
    collect(this: Gauge) {
      this.set(model.registry.services().length);
    },
  });
  new Gauge({
    name: 'pilot_config_resources',
    help: 'Istio config objects pilot holds, by kind.',
    labelNames: ['kind'],
    registers: [metrics],
    collect(this: Gauge<'kind'>) {
      for (const [kind, list] of Object.entries(model.store.toJSON().kinds)) this.set({ kind }, list.length);
    },
  });

  sink.on('change', (collection, resources) => {
    try {
      model.apply(collection, resources);
    } catch (err) {
      logger.error(
        { err, collection },
        'could not apply a collection from galley; keeping the previous state',
      );
    }
  });
  sink.on('connected', () => logger.info({ galley: options.galleyAddress }, 'following galley over MCP'));
  sink.on('disconnected', (err) =>
    logger.warn({ galley: options.galleyAddress, err: err.message }, 'lost galley; serving the last config'),
  );
  sink.start();

  app.monitoring
    .addDebugPage('/debug/syncz', 'per proxy and type: sent, ACKed, last NACK', syncDebugHandler(ads))
    .addDebugPage('/debug/configz', 'Istio config and services pilot holds', configzHandler(model))
    .addDebugPage('/debug/adsz', 'xDS connections and their subscriptions', adszHandler(ads, xds))
    .addDebugPage(
      '/debug/config_dump',
      'what a proxy would be sent now (?proxyID=<node id>), as an envoy.admin.v3.ConfigDump',
      configDumpHandler(ads, xds),
    )
    .addDebugPage('/debug/mcpz', "pilot's MCP subscription to galley", () => ({
      contentType: 'application/json',
      body: `${JSON.stringify(sink.status(), null, 2)}\n`,
    }));
  logger.info({ galley: options.galleyAddress, xdsPort: options.xdsPort }, 'starting pilot');
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}

/**
 * The mTLS xDS port for Envoy sidecars (Istio's 15012): the same ADS service as the plaintext port, behind a
 * certificate pilot gets from citadel, requiring client certificates from the mesh. Started in the background
 * once citadel has answered (the mesh agent retries with backoff), so pilot serves its other ports meanwhile.
 */
/** The service account pilot's certificate names (its SPIFFE ID is secure-xds.ts's PILOT_SPIFFE_ID). */
const PILOT_ACCOUNT = { namespace: 'istio-system', serviceAccount: 'pilot' };

class SecureXds {
  private credentials: SecureXdsCredentials | undefined;
  private server: GrpcServer | undefined;
  private stopped = false;
  private stopWatching: (() => void) | undefined;

  constructor(
    private readonly options: PilotOptions,
    private readonly ads: AdsServer,
    private readonly logger: Logger,
  ) {
    void this.start();
  }

  /**
   * Under `flotilla up` citadel starts beside pilot, so its root certificate and token key may not exist yet:
   * keep trying, with a growing pause, until the port serves or pilot stops.
   */
  private async start(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.serve();
        return;
      } catch (err) {
        const delayMs = Math.min(30_000, 500 * 2 ** attempt);
        this.logger.warn(
          { err: (err as Error).message, retryInMs: delayMs },
          'secure xDS port not serving yet',
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      }
    }
  }

  private async serve(): Promise<void> {
    const { options } = this;
    // citadel's trust bundle: re-read for every certificate request, and watched, so that a root rotation (old and
    // new roots in the bundle) reaches pilot's serving certificate and the roots it checks clients against at once.
    const trustBundle = new TrustBundleFile(options.citadelRootCert!);
    const credentials = await secureXdsCredentials({
      citadelAddress: options.citadelAddress!,
      rootCertPem: trustBundle.read,
      token: () =>
        options.citadelTokenFile !== undefined
          ? readFileSync(options.citadelTokenFile, 'utf8').trim()
          : signLocalToken(readTokenKey(options.citadelTokenKeyDir!), PILOT_ACCOUNT),
      // The certificate names the identity the token proves: citadel refuses any other.
      spiffeId: spiffeIdOf({ trustDomain: options.trustDomain, ...this.account() }),
      citadelServerName: options.citadelServerName,
    });
    if (this.stopped) return credentials.stop();
    this.credentials = credentials;
    this.stopWatching = trustBundle.watch(
      () => {
        this.logger.info(
          { file: trustBundle.path },
          'trust bundle changed; renewing the secure xDS certificate',
        );
        credentials.rotateNow();
      },
      (err) =>
        this.logger.error(
          { file: trustBundle.path, err: err.message },
          'trust bundle is not valid; still trusting the last good one',
        ),
    );
    const server = new GrpcServer({
      name: 'secure-xds',
      host: options.host,
      port: options.secureXdsPort,
      portOption: '--secure-xds-port',
      credentials: credentials.credentials,
      logger: this.logger,
    });
    server.addService(this.ads.definition, this.ads.implementation);
    await server.start();
    server.markServing();
    this.server = server;
  }

  /**
   * The service account pilot's token speaks for: from a Kubernetes token's `sub`
   * ("system:serviceaccount:<namespace>:<name>"), or the local mesh's fixed one.
   */
  private account(): { namespace: string; serviceAccount: string } {
    if (this.options.citadelTokenFile === undefined) return PILOT_ACCOUNT;
    return serviceAccountOfToken(readFileSync(this.options.citadelTokenFile, 'utf8').trim());
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.stopWatching?.();
    this.credentials?.stop();
    await this.server?.stop(timeoutMs);
  }
}

/** The namespace and name a service-account token's `sub` claim names (not verified here: citadel does that). */
export function serviceAccountOfToken(token: string): { namespace: string; serviceAccount: string } {
  const sub = unverifiedJwtClaims(token)?.sub;
  const match = typeof sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(sub) : null;
  if (!match)
    throw new Error('--citadel-token-file: not a service-account token (sub system:serviceaccount:NS:NAME)');
  return { namespace: match[1], serviceAccount: match[2] };
}
