import type { ResourceType } from '@flotilla/kube';
import { McpServer } from '@flotilla/mcp';
import { createApp, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import { Counter, Gauge } from 'prom-client';
import type { KubernetesObject } from '@kubernetes/client-node';
import { collectionOf, IstioConfig } from './istio-config';
import type { ConfigValue } from './istio-config';
import { McpPublisher } from './mcp-publisher';
import { galleyCommand } from './options';
import type { GalleyOptions } from './options';
import { DirectorySource } from './sources/directory-source';
import type { Snapshot, SourceResource } from './sources/snapshot';
import { APP_VERSION } from './version';
import { AdmissionWebhook } from './webhook/admission-webhook';

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<GalleyOptions>(galleyCommand(), argv);
  const config = new IstioConfig();
  const parts: { stop(): Promise<void> }[] = [];
  const app = createApp({
    component: 'galley',
    version: APP_VERSION,
    options,
    // MCP streams never end by themselves: close them (sinks reconnect elsewhere) before the gRPC server drains.
    beforeDrain: () => mcp.close(),
    onStop: async () => {
      await Promise.all(parts.map((p) => p.stop()));
      await tracing.shutdown();
    },
  });
  const { logger, metrics } = app;

  const mcp = new McpServer({ logger, debounce: { afterMs: 0 } });
  app.grpc.addService(mcp.definition, mcp.implementation);
  const publisher = new McpPublisher(mcp);

  const resourcesGauge = new Gauge({
    name: 'galley_config_resources',
    help: 'Resources served, by collection.',
    labelNames: ['collection'],
    registers: [metrics],
  });
  const rejectionsGauge = new Gauge({
    name: 'galley_config_rejections',
    help: 'Problems in the current configuration (refused files and resources).',
    registers: [metrics],
  });
  const snapshots = new Counter({
    name: 'galley_config_snapshots_total',
    help: 'Configuration snapshots served.',
    registers: [metrics],
  });

  let current: Snapshot<ConfigValue> | undefined;
  const serve = (snapshot: Snapshot<ConfigValue>) => {
    current = snapshot;
    const changed = publisher.publish(snapshot);
    snapshots.inc();
    resourcesGauge.reset();
    for (const [collection, byName] of snapshot.collections) resourcesGauge.set({ collection }, byName.size);
    rejectionsGauge.set(snapshot.rejections.length);
    for (const r of snapshot.rejections) {
      logger.warn(
        { origin: r.origin, resource: r.name, collection: r.collection, keptLastGood: r.keptLastGood },
        r.message,
      );
    }
    if (changed.length > 0)
      logger.info({ generation: snapshot.generation, changed }, 'serving new configuration');
  };

  if (options.configDir) {
    const source = new DirectorySource({
      dir: options.configDir,
      parse: config.parseFile,
      debounceMs: options.debounce,
      onError: (err) => logger.error({ err }, 'config folder'),
    });
    source.on('snapshot', serve);
    serve(await source.start());
    parts.push(source);
  }
  if (options.kubernetes || options.kubeconfig) {
    // Loaded only when used: @kubernetes/client-node is a large ES module tree that costs start-up time.
    const { clusterSource } = await import('./sources/kubernetes-source.js');
    const source = clusterSource(options.kubeconfig, {
      toResource: (object, type) => kubernetesResource(config, object, type),
      reportStatusOn: (type) => type.group.endsWith('istio.io'),
      debounceMs: options.debounce,
      onError: (err) => logger.error({ err: err.message }, 'kubernetes'),
    });
    source.on('snapshot', serve);
    serve(await source.start());
    parts.push(source);
  }
  if (options.webhookCertDir) {
    const webhook = new AdmissionWebhook({
      host: options.host,
      port: options.webhookPort,
      certDir: options.webhookCertDir,
      validate: (object) => {
        const verdict = config.validateObject(object, 'admission');
        return { errors: verdict.errors, warnings: verdict.warnings };
      },
      onError: (err) => logger.error({ err }, 'webhook'),
    });
    await webhook.start();
    logger.info({ port: options.webhookPort }, 'validating admission webhook listening');
    parts.push(webhook);
  }

  app.monitoring.addDebugPage('/debug/configz', 'configuration served over MCP and what was refused', () => ({
    body: JSON.stringify(configz(current, mcp), null, 2) + '\n',
  }));
  app.monitoring.addDebugPage('/debug/syncz', 'MCP sinks and their per-collection sync state', () => ({
    body: JSON.stringify(mcp.status(), null, 2) + '\n',
  }));
  logger.info({ configDir: options.configDir ?? null, kubernetes: options.kubernetes }, 'starting galley');
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}

function configz(snapshot: Snapshot<ConfigValue> | undefined, mcp: McpServer) {
  if (!snapshot) return { generation: 0, collections: {}, rejections: [] };
  return {
    generation: snapshot.generation,
    collections: Object.fromEntries(
      [...snapshot.collections].map(([collection, byName]) => [
        collection,
        { version: mcp.version(collection), resources: [...byName.keys()].sort() },
      ]),
    ),
    rejections: snapshot.rejections,
  };
}

/** Istio resources are validated; the Kubernetes objects pilot's registry needs are relayed as they are. */
function kubernetesResource(
  config: IstioConfig,
  object: KubernetesObject,
  type: ResourceType,
): SourceResource<ConfigValue> {
  if (type.group.endsWith('istio.io')) {
    return config.validateObject(object as unknown as Record<string, unknown>, `kubernetes ${type.kind}`);
  }
  const {
    metadata = {},
    apiVersion: _apiVersion,
    kind: _kind,
    ...body
  } = object as KubernetesObject & Record<string, unknown>;
  const namespace = metadata.namespace ?? '';
  return {
    collection: collectionOf(type.group, type.version, type.kind),
    name: `${namespace}/${metadata.name ?? ''}`,
    value: {
      namespace,
      name: metadata.name ?? '',
      labels: metadata.labels ?? {},
      annotations: metadata.annotations ?? {},
      spec: body,
    },
    errors: [],
  };
}
