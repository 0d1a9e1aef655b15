import { MixerRuntime, YamlFolderSource, addMixerServices, loadAdapterPackage } from '@flotilla/mixer-core';
import type { ApplyResult, MixerConfigSource } from '@flotilla/mixer-core';
import { createApp, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Logger } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { adapterMetrics, builtinAdapters } from './adapters';
import { McpConfigSource } from './mcp-config-source';
import { mixerCommand } from './options';
import type { MixerOptions } from './options';
import { APP_VERSION } from './version';

/** Loads the source into the runtime now and on every change; the last good config stays in force on errors. */
export async function followConfig(
  source: MixerConfigSource,
  runtime: MixerRuntime,
  logger: Logger,
  metrics: Registry,
): Promise<{ stop: () => void; last: () => ApplyResult & { sourceErrors: readonly string[] } }> {
  const errorsGauge = new Gauge({
    name: 'mixer_config_errors',
    help: 'Config resources left out of the config in force because they are invalid',
    registers: [metrics],
  });
  let last: ApplyResult & { sourceErrors: readonly string[] } = {
    errors: [],
    handlers: 0,
    instances: 0,
    rules: 0,
    sourceErrors: [],
  };
  const load = async () => {
    try {
      const snapshot = await source.load();
      const result = await runtime.apply(snapshot.resources);
      for (const e of snapshot.errors) logger.warn({ error: e }, 'config file not read');
      last = { ...result, sourceErrors: snapshot.errors };
      errorsGauge.set(result.errors.length + snapshot.errors.length);
      logger.info(
        {
          handlers: result.handlers,
          instances: result.instances,
          rules: result.rules,
          errors: result.errors.length + snapshot.errors.length,
        },
        'mixer config applied',
      );
    } catch (err) {
      logger.error(
        { err: (err as Error).message },
        'mixer config could not be loaded; keeping the config in force',
      );
    }
  };
  await load();
  const stop = source.watch(() => void load());
  return { stop, last: () => last };
}

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<MixerOptions>(mixerCommand(), argv);
  let stopWatching: () => void = () => undefined;
  let stopSink: () => void = () => undefined;
  const app = createApp({
    component: 'mixer',
    version: APP_VERSION,
    options,
    onStop: async () => {
      stopWatching();
      stopSink();
      await runtime.close();
      await tracing.shutdown();
    },
  });
  const logger = app.logger;
  const runtime = new MixerRuntime({
    adapters: builtinAdapters({ port: options.prometheusPort, host: options.host }),
    logger: logger.child({ part: 'runtime' }),
    metrics: adapterMetrics(app.metrics),
    defaultNamespace: options.configDefaultNamespace,
    loadAdapter: loadAdapterPackage,
  });
  addMixerServices(app.grpc, runtime, logger);
  if (options.configDir && options.galleyAddress) {
    logger.fatal('give either --config-dir or --galley-address, not both');
    process.exit(2);
  }
  let source: MixerConfigSource | undefined;
  if (options.configDir) {
    source = new YamlFolderSource(options.configDir, options.configDefaultNamespace);
  } else if (options.galleyAddress) {
    const mcp = new McpConfigSource(options.galleyAddress, `mixer~${process.pid}`, logger);
    mcp.start();
    stopSink = () => mcp.stop();
    // Start with galley's config when it answers soon; otherwise start empty and apply it when it arrives.
    await Promise.race([mcp.sink.waitForSync(), new Promise((r) => setTimeout(r, 5000).unref())]);
    app.monitoring.addDebugPage('/debug/mcp', "the MCP sink following galley's config", () => ({
      body: JSON.stringify(mcp.sink.status(), null, 2),
    }));
    source = mcp;
  }
  if (source) {
    const followed = await followConfig(source, runtime, logger, app.metrics);
    stopWatching = followed.stop;
    app.monitoring.addDebugPage(
      '/debug/mixer_config',
      'mixer config in force and resources left out',
      () => ({
        contentType: 'application/json',
        body: JSON.stringify(followed.last(), null, 2),
      }),
    );
  }
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}
