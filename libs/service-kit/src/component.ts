import type { Registry } from 'prom-client';
import type { GrpcServer } from './grpc-server';
import type { Logger } from './logging';
import type { MonitoringServer } from './monitoring-server';

export interface ComponentParts {
  name: string;
  logger: Logger;
  metrics: Registry;
  monitoring: MonitoringServer;
  grpcServers: GrpcServer[];
  /**
   * Runs before the gRPC servers drain: end long-lived streams here (xDS/MCP streams never end by themselves, and
   * a drain would otherwise wait out the whole shutdown timeout).
   */
  beforeDrain?: () => void | Promise<void>;
  /** Runs after the servers stop accepting and before the process exits (flush, close clients). */
  onStop?: () => Promise<void>;
}

/**
 * Starts an app's servers in order (monitoring first, so liveness answers during start-up), then marks gRPC
 * health SERVING and /ready 200. `stop` reverses it within a deadline.
 */
export class Component {
  private stopping: Promise<void> | undefined;

  constructor(private readonly parts: ComponentParts) {}

  get logger(): Logger {
    return this.parts.logger;
  }

  async start(): Promise<void> {
    try {
      await this.parts.monitoring.start();
      for (const server of this.parts.grpcServers) await server.start();
    } catch (err) {
      await this.stop(1000);
      throw err;
    }
    for (const server of this.parts.grpcServers) server.markServing();
    this.parts.monitoring.setReady(true);
    this.parts.logger.info('serving');
  }

  stop(timeoutMs: number): Promise<void> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    this.parts.monitoring.setReady(false);
    await this.parts.beforeDrain?.();
    await Promise.all(this.parts.grpcServers.map((s) => s.stop(timeoutMs)));
    await this.parts.onStop?.();
    await this.parts.monitoring.stop();
  }
}

/**
 * Stops the component on SIGTERM or SIGINT and exits 0; a second signal, or a stop that overruns the timeout by
 * a second, exits 1 at once. Start-up failures are logged as one clear line and exit 1.
 */
export async function runUntilSignalled(component: Component, shutdownTimeoutMs: number): Promise<void> {
  const { logger } = component;
  // Logging must never stand between a signal and the exit: when the supervisor died, stdout may be a broken pipe.
  const log = (write: () => void) => {
    try {
      write();
    } catch {
      // nowhere to report it
    }
  };
  const exit = (code: number): never => {
    log(() => logger.flush());
    process.exit(code);
  };
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log(() => logger.warn({ signal }, 'second signal; exiting now'));
      exit(1);
    }
    signalled = true;
    log(() => logger.info({ signal, timeoutMs: shutdownTimeoutMs }, 'shutting down'));
    setTimeout(() => {
      log(() => logger.error('shutdown overran its deadline; exiting'));
      exit(1);
    }, shutdownTimeoutMs + 1000).unref();
    component.stop(shutdownTimeoutMs).then(
      () => {
        log(() => logger.info('stopped'));
        exit(0);
      },
      (err: unknown) => {
        log(() => logger.error({ err }, 'shutdown failed'));
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Under `flotilla up` the supervisor holds our stdin open; if it dies without signalling (SIGKILL), stdin
  // closes and we stop too, so no process outlives the local mesh. Its output pipes may be gone by then.
  if (process.env.FLOTILLA_SUPERVISED === '1') {
    const supervisorGone = () => {
      // Our stdout went with the supervisor; pino's synchronous writer would retry a broken pipe forever.
      logger.level = 'silent';
      onSignal('SIGTERM');
    };
    process.stdin.on('end', supervisorGone);
    process.stdin.on('error', supervisorGone);
    process.stdin.resume();
  }
  try {
    await component.start();
  } catch (err) {
    log(() => logger.fatal((err as Error).message));
    exit(1);
  }
}
