import type { Endpoint, RegistryChange, Service, ServiceRegistry } from './model';

/** The state a provider computes: services by hostname and, per hostname, the endpoints by service port. */
export interface RegistryState {
  services: Map<string, Service>;
  endpoints: Map<string, Map<number, Endpoint[]>>;
}

/**
 * A registry holding a computed state and telling listeners exactly what changed between states. Providers derive
 * their state from their inputs and call `replace`; tests use it directly as Istio's "memory" registry.
 */
export class MemoryRegistry implements ServiceRegistry {
  private state: RegistryState = { services: new Map(), endpoints: new Map() };
  private readonly listeners = new Set<(change: RegistryChange) => void>();

  constructor(readonly name: string) {}

  services(): Service[] {
    return [...this.state.services.values()];
  }

  service(hostname: string): Service | undefined {
    return this.state.services.get(hostname);
  }

  endpoints(hostname: string, servicePort: number): Endpoint[] {
    return this.state.endpoints.get(hostname)?.get(servicePort) ?? [];
  }

  onChange(listener: (change: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Installs a new state; notifies listeners when anything differs, naming the hostnames. */
  replace(next: RegistryState): RegistryChange {
    const change: RegistryChange = { services: new Set(), endpoints: new Set() };
    const before = this.state;
    for (const host of new Set([...before.services.keys(), ...next.services.keys()])) {
      if (!sameJson(before.services.get(host), next.services.get(host))) change.services.add(host);
    }
    for (const host of new Set([...before.endpoints.keys(), ...next.endpoints.keys()])) {
      if (!sameJson(mapToObject(before.endpoints.get(host)), mapToObject(next.endpoints.get(host)))) {
        change.endpoints.add(host);
      }
    }
    this.state = next;
    if (change.services.size > 0 || change.endpoints.size > 0) for (const l of this.listeners) l(change);
    return change;
  }
}

function mapToObject(m: Map<number, Endpoint[]> | undefined): Record<number, Endpoint[]> | undefined {
  return m ? Object.fromEntries([...m].sort((a, b) => a[0] - b[0])) : undefined;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Adds an endpoint to a state under its hostname and service port. */
export function addEndpoint(state: RegistryState, endpoint: Endpoint): void {
  let byPort = state.endpoints.get(endpoint.hostname);
  if (!byPort) state.endpoints.set(endpoint.hostname, (byPort = new Map()));
  let list = byPort.get(endpoint.servicePort);
  if (!list) byPort.set(endpoint.servicePort, (list = []));
  list.push(endpoint);
}
