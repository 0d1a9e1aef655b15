import { hostname } from 'node:os';
import { McpSink } from '@flotilla/mcp';
import { createApp, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import { AdsServer, syncDebugHandler } from '@flotilla/xds';
import { Gauge } from 'prom-client';
import { adszHandler, configDumpHandler, configzHandler } from './debug';
import { MeshModel, PILOT_COLLECTIONS } from './mesh-model';
import { pilotCommand } from './options';
import type { PilotOptions } from './options';
import { APP_VERSION } from './version';
import { PilotXds } from './xds';

/** How long an xDS request waits for the first complete config from galley before it is answered anyway. */
const INITIAL_SYNC_WAIT_MS = 10_000;

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<PilotOptions>(pilotCommand(), argv);
  const app = createApp({
    component: 'pilot',
    version: APP_VERSION,
    options,
    extraGrpcServers: [{ name: 'xds', port: options.xdsPort, portOption: '--xds-port' }],
    // xDS streams never end by themselves: end them (clients reconnect) before the gRPC servers drain.
    beforeDrain: () => ads.close(),
    onStop: async () => {
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
    debounce: { afterMs: options.debounceAfter, maxMs: options.debounceMax },
    maxConcurrentPushes: options.maxConcurrentPushes,
    controlPlaneId: `pilot-${hostname()}-${process.pid}`,
  });
  app.extraGrpc.get('xds')!.addService(ads.definition, ads.implementation);
  xds.wire(ads);

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
