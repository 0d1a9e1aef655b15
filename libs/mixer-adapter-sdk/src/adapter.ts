import type { Handler } from './handler';
import type { TemplateName } from './templates';

/** What mixer gives an adapter when it builds a handler. */
export interface AdapterEnv {
  /** Structured logging, tagged with the handler's name. */
  readonly logger: AdapterLogger;
  /** The handler config's fully qualified name (name.namespace). */
  readonly handlerName: string;
  /** Counters on mixer's /metrics (absent where mixer has no metrics, e.g. some tests). */
  readonly metrics?: AdapterMetrics;
}

/** The slice of a metrics registry adapters may use: labelled counters, created once per name. */
export interface AdapterMetrics {
  counter(name: string, help: string, labelNames: readonly string[]): AdapterCounter;
}

export interface AdapterCounter {
  inc(labels: Readonly<Record<string, string>>, value?: number): void;
}

export interface AdapterLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * An adapter: its name (the handler config's `compiledAdapter`), the templates its handlers take, a validator that
 * turns raw params into typed ones (throwing ParamsError with every problem), and a builder of handlers.
 * Third-party adapters are npm packages whose default export (or `adapter` export) is one of these.
 */
export interface Adapter<P = unknown, H extends Handler = Handler> {
  readonly name: string;
  readonly description: string;
  readonly templates: readonly TemplateName[];
  validate(params: unknown): P;
  build(params: P, env: AdapterEnv): Promise<H>;
}

/** Identity function that keeps an adapter's param and handler types when declaring it. */
export function defineAdapter<P, H extends Handler>(adapter: Adapter<P, H>): Adapter<P, H> {
  return adapter;
}

/** A logger that drops everything (tests, tools). */
export const silentLogger: AdapterLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
