import type { Endpoint, RegistryChange, Service, ServiceRegistry } from './model';

/**
 * Several registries seen as one, in priority order (Istio puts Kubernetes first): a hostname defined by more
 * than one is served by the first that has it, endpoints included. Changes of every member reach listeners.
 */
export class AggregateRegistry implements ServiceRegistry {
  readonly name = 'Aggregate';
  private readonly listeners = new Set<(change: RegistryChange) => void>();

  constructor(private readonly members: ServiceRegistry[]) {
    for (const member of members) member.onChange((change) => this.listeners.forEach((l) => l(change)));
  }

  services(): Service[] {
    const seen = new Map<string, Service>();
    for (const member of this.members) {
      for (const s of member.services()) if (!seen.has(s.hostname)) seen.set(s.hostname, s);
    }
    return [...seen.values()];
  }

  service(hostname: string): Service | undefined {
    for (const member of this.members) {
      const s = member.service(hostname);
      if (s) return s;
    }
    return undefined;
  }

  endpoints(hostname: string, servicePort: number): Endpoint[] {
    for (const member of this.members) {
      if (member.service(hostname)) return member.endpoints(hostname, servicePort);
    }
    return [];
  }

  onChange(listener: (change: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
