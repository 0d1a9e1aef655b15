import * as grpc from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer } from '@grpc/proto-loader';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { health, readDescriptorSet } from '@flotilla/proto';
import { PortInUseError, isAddressInUse } from './errors';
import { HealthService, ServingStatus } from './health';
import type { Logger } from './logging';

export interface GrpcServerConfig {
  /** What the server is for, in logs ("grpc", "xds"). */
  name: string;
  host: string;
  port: number;
  /** The flag that sets `port`, named in the error when the port is taken. */
  portOption: string;
  /** Plaintext unless given. */
  credentials?: grpc.ServerCredentials;
  logger: Logger;
  serverOptions?: grpc.ServerOptions;
}

const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

let reflectionPackage: PackageDefinition | undefined;
/** The descriptors of every generated proto, parsed once per process for server reflection. */
function reflectionPackageDefinition(): PackageDefinition {
  reflectionPackage ??= loadFileDescriptorSetFromBuffer(readDescriptorSet());
  return reflectionPackage;
}

type Handler = (call: unknown) => void;

/** Collects the (definition, implementation) pairs a ReflectionService would add to a server. */
function reflectionHandlers(pkg: PackageDefinition, services: string[]) {
  const added: { definition: grpc.ServiceDefinition; handlers: Map<string, Handler> }[] = [];
  new ReflectionService(pkg, { services }).addToServer({
    addService: (definition, implementation) => {
      const handlers = new Map<string, Handler>();
      for (const [name, method] of Object.entries(definition))
        handlers.set(method.path, implementation[name] as Handler);
      added.push({ definition, handlers });
    },
  });
  return added;
}

/**
 * Adds server reflection (v1 and v1alpha), built on its first call: parsing the descriptors of every generated
 * proto takes seconds that start-up should not pay for a service few runs call. The method definitions come
 * from an empty package definition, which costs nothing.
 */
function addLazyReflection(server: grpc.Server, services: string[]): void {
  let real: Map<string, Handler> | undefined;
  const handlerFor = (path: string): Handler => {
    real ??= new Map(
      reflectionHandlers(reflectionPackageDefinition(), services).flatMap((s) => [...s.handlers]),
    );
    return real.get(path)!;
  };
  for (const { definition } of reflectionHandlers({}, services)) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(definition)) {
      implementation[name] = ((call: unknown) => handlerFor(method.path)(call)) as grpc.UntypedHandleCall;
    }
    server.addService(definition, implementation);
  }
}

/** "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources" → the service part. */
export function serviceNameOf(definition: grpc.ServiceDefinition): string {
  const first = Object.values(definition)[0];
  if (!first) throw new Error('service definition has no methods');
  return first.path.split('/')[1];
}

/**
 * A gRPC server with grpc.health.v1 and server reflection (v1 and v1alpha, listing only the services really
 * served, so grpcurl-style tools work). Services report NOT_SERVING until `markServing`.
 */
export class GrpcServer {
  readonly health = new HealthService();
  private readonly server: grpc.Server;
  private readonly services: string[] = [];
  private port: number | undefined;
  private reflectionAdded = false;

  constructor(private readonly config: GrpcServerConfig) {
    this.server = new grpc.Server(config.serverOptions);
    this.server.addService(health.HealthService, this.health.implementation);
  }

  addService<Implementation extends grpc.UntypedServiceImplementation>(
    definition: grpc.ServiceDefinition,
    implementation: Implementation,
  ): this {
    const name = serviceNameOf(definition);
    this.server.addService(definition, implementation);
    this.services.push(name);
    this.health.setStatus(name, ServingStatus.NOT_SERVING);
    return this;
  }

  /** The port actually bound (differs from the configured one when that was 0). */
  get boundPort(): number {
    if (this.port === undefined) throw new Error(`${this.config.name} server is not started`);
    return this.port;
  }

  get address(): string {
    return `${this.config.host}:${this.boundPort}`;
  }

  async start(): Promise<number> {
    const { host, port, portOption, credentials, logger, name } = this.config;
    if (!this.reflectionAdded) {
      addLazyReflection(this.server, [HEALTH_SERVICE_NAME, ...this.services]);
      this.reflectionAdded = true;
    }
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(target, credentials ?? grpc.ServerCredentials.createInsecure(), (err, bound) => {
        if (err) reject(isAddressInUse(err) ? new PortInUseError(host, port, portOption, err) : err);
        else resolve(bound);
      });
    });
    logger.info(
      { server: name, address: `${host}:${this.port}`, services: this.services },
      'gRPC server listening',
    );
    return this.port;
  }

  markServing(): void {
    this.health.setAll(ServingStatus.SERVING);
  }

  /**
   * Graceful stop: report NOT_SERVING, stop accepting, let in-flight calls and streams finish, and cancel whatever
   * is still open when `timeoutMs` has passed.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (this.port === undefined) return;
    this.health.setAll(ServingStatus.NOT_SERVING);
    this.health.endWatches();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.config.logger.warn({ server: this.config.name }, 'drain timed out; cancelling open calls');
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.port = undefined;
  }
}
