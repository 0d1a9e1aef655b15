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
    const hosts = new Set([
      ...this.state.services.keys(),
      ...next.services.keys(),
      ...this.state.endpoints.keys(),
      ...next.endpoints.keys(),
    ]);
    const change = this.diff(hosts, next);
    this.state = next;
    this.notify(change);
    return change;
  }

  /**
   * Installs the state of some hostnames only, leaving every other hostname as it is: `next` holds what those
   * hostnames now have (a hostname absent from it is removed). Notifies listeners naming those that differ.
   */
  patch(hosts: Iterable<string>, next: RegistryState): RegistryChange {
    const hostSet = new Set(hosts);
    const change = this.diff(hostSet, next);
    for (const host of hostSet) {
      const service = next.services.get(host);
      if (service) this.state.services.set(host, service);
      else this.state.services.delete(host);
      const endpoints = next.endpoints.get(host);
      if (endpoints) this.state.endpoints.set(host, endpoints);
      else this.state.endpoints.delete(host);
    }
    this.notify(change);
    return change;
  }

  /** Which of `hosts` have a different service, or different endpoints, in `next` than now. */
  private diff(hosts: ReadonlySet<string>, next: RegistryState): RegistryChange {
    const change: RegistryChange = { services: new Set(), endpoints: new Set() };
    for (const host of hosts) {
      if (!sameJson(this.state.services.get(host), next.services.get(host))) change.services.add(host);
      const before = mapToObject(this.state.endpoints.get(host));
      if (!sameJson(before, mapToObject(next.endpoints.get(host)))) change.endpoints.add(host);
    }
    return change;
  }

  private notify(change: RegistryChange): void {
    if (change.services.size > 0 || change.endpoints.size > 0) for (const l of this.listeners) l(change);
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
