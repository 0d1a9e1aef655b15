import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { accessLogService, externalAuth, mixerService, rateLimitService } from '@flotilla/proto';
import type { MixerRuntime } from '../dispatch/runtime';
import { accessLogImplementation, authorizationImplementation, rateLimitImplementation } from './envoy';
import type { ErrorLogger } from './errors';
import { mixerServiceImplementation } from './mixer-service';

export interface ServiceHost {
  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): unknown;
}

/** Adds istio.mixer.v1.Mixer and the three Envoy-native services, all answered by `runtime`. */
export function addMixerServices(server: ServiceHost, runtime: MixerRuntime, logger: ErrorLogger): void {
  const add = (definition: unknown, impl: unknown) =>
    server.addService(definition as ServiceDefinition, impl as UntypedServiceImplementation);
  add(mixerService.MixerService, mixerServiceImplementation(runtime, logger));
  add(externalAuth.AuthorizationService, authorizationImplementation(runtime, logger));
  add(rateLimitService.RateLimitServiceService, rateLimitImplementation(runtime, logger));
  add(accessLogService.AccessLogServiceService, accessLogImplementation(runtime, logger));
}
