import type { Adapter, AdapterCounter, AdapterMetrics } from '@flotilla/mixer-adapter-sdk';
import { denierAdapter } from '@flotilla/mixer-adapter-denier';
import { listAdapter } from '@flotilla/mixer-adapter-list';
import { memquotaAdapter } from '@flotilla/mixer-adapter-memquota';
import { createPrometheusAdapter } from '@flotilla/mixer-adapter-prometheus';
import type { PrometheusDefaults } from '@flotilla/mixer-adapter-prometheus';
import { redisquotaAdapter } from '@flotilla/mixer-adapter-redisquota';
import { stackdriverAdapter } from '@flotilla/mixer-adapter-stackdriver';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * The adapters compiled into this mixer, by the name handler config gives as compiledAdapter. `prometheus` says
 * where prometheus handlers serve /metrics when their params do not.
 */
export function builtinAdapters(prometheus?: PrometheusDefaults): Map<string, Adapter> {
  const adapters = [
    denierAdapter,
    listAdapter,
    memquotaAdapter,
    createPrometheusAdapter(Date.now, prometheus),
    redisquotaAdapter,
    stackdriverAdapter,
  ] as Adapter[];
  return new Map(adapters.map((a) => [a.name, a]));
}

/** Adapter counters on mixer's own registry; one prom-client Counter per name, shared by every handler. */
export function adapterMetrics(registry: Registry): AdapterMetrics {
  const counters = new Map<string, Counter<string>>();
  return {
    counter(name: string, help: string, labelNames: readonly string[]): AdapterCounter {
      let c = counters.get(name);
      if (!c) {
        c = new Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
        counters.set(name, c);
      }
      const counter = c;
      return { inc: (labels, value = 1) => counter.inc({ ...labels }, value) };
    },
  };
}
