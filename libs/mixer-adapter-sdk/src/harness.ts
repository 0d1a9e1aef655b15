import type { Adapter, AdapterLogger, AdapterMetrics } from './adapter';
import { HANDLER_METHOD, handlesTemplate } from './handler';
import type { Handler } from './handler';
import { checkOk, quotaGranted } from './results';
import type {
  CheckResult,
  InstanceOf,
  QuotaArgs,
  QuotaInstance,
  QuotaResult,
  TemplateName,
} from './templates';

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: object;
  msg?: string;
}

/** A logger that keeps what it is given, for assertions. */
export function recordingLogger(records: LogRecord[]): AdapterLogger {
  const at =
    (level: LogRecord['level']) =>
    (fields: object, msg?: string): void => {
      records.push({ level, fields, msg });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Counters kept in memory: `counts.get('name{label="v"}')`. */
export class RecordingMetrics implements AdapterMetrics {
  readonly counts = new Map<string, number>();

  counter(name: string, _help: string, labelNames: readonly string[]) {
    return {
      inc: (labels: Readonly<Record<string, string>>, value = 1) => {
        const key = `${name}{${labelNames.map((l) => `${l}="${labels[l] ?? ''}"`).join(',')}}`;
        this.counts.set(key, (this.counts.get(key) ?? 0) + value);
      },
    };
  }
}

export interface HarnessCall {
  template: TemplateName;
  instances: readonly unknown[];
  args?: QuotaArgs;
  result?: CheckResult | QuotaResult;
}

/**
 * Drives one adapter the way mixer does, without mixer: validates params, builds a handler, feeds it instances
 * of each template (checking that the handler implements that template), and records every call and result.
 *
 *   const h = await AdapterHarness.start(myAdapter, { ... });
 *   const result = await h.check('listentry', { value: 'bad-guy' });
 */
export class AdapterHarness<P = unknown, H extends Handler = Handler> {
  readonly calls: HarnessCall[] = [];

  private constructor(
    readonly adapter: Adapter<P, H>,
    readonly params: P,
    readonly handler: H,
    readonly logs: LogRecord[],
    readonly metrics: RecordingMetrics,
  ) {}

  static async start<P, H extends Handler>(
    adapter: Adapter<P, H>,
    rawParams: unknown,
    handlerName = 'handler.test',
  ): Promise<AdapterHarness<P, H>> {
    const params = adapter.validate(rawParams);
    const logs: LogRecord[] = [];
    const metrics = new RecordingMetrics();
    const handler = await adapter.build(params, { logger: recordingLogger(logs), handlerName, metrics });
    return new AdapterHarness(adapter, params, handler, logs, metrics);
  }

  private method(template: TemplateName): (...args: unknown[]) => Promise<unknown> {
    if (!this.adapter.templates.includes(template))
      throw new Error(`adapter ${this.adapter.name} does not declare template ${template}`);
    if (!handlesTemplate(this.handler, template))
      throw new Error(`handler of ${this.adapter.name} lacks ${HANDLER_METHOD[template]} for ${template}`);
    const fn = (this.handler as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[
      HANDLER_METHOD[template]
    ];
    return fn.bind(this.handler);
  }

  async check<T extends 'checknothing' | 'listentry' | 'authorization'>(
    template: T,
    fields: Omit<InstanceOf[T], 'name'>,
    name = `${template}.instance`,
  ): Promise<CheckResult> {
    const instance = { name, ...fields };
    const result = (await this.method(template)(instance)) as CheckResult;
    this.calls.push({ template, instances: [instance], result });
    return result;
  }

  async quota(
    fields: Omit<QuotaInstance, 'name'>,
    args: Partial<QuotaArgs> = {},
    name = 'quota.instance',
  ): Promise<QuotaResult> {
    const instance = { name, ...fields };
    const full: QuotaArgs = { deduplicationId: '', amount: 1, bestEffort: false, ...args };
    const result = (await this.method('quota')(instance, full)) as QuotaResult;
    this.calls.push({ template: 'quota', instances: [instance], args: full, result });
    return result;
  }

  async report<T extends 'metric' | 'logentry' | 'reportnothing'>(
    template: T,
    instances: readonly Omit<InstanceOf[T], 'name'>[],
    name = `${template}.instance`,
  ): Promise<void> {
    const named = instances.map((i) => ({ name, ...i }));
    await this.method(template)(named);
    this.calls.push({ template, instances: named });
  }

  close(): Promise<void> {
    return this.handler.close();
  }
}

export interface RecordingBehaviour {
  check?: (template: TemplateName, instance: unknown) => CheckResult | Promise<CheckResult>;
  quota?: (instance: QuotaInstance, args: QuotaArgs) => QuotaResult | Promise<QuotaResult>;
}

export interface RecordingAdapter extends Adapter<Record<string, unknown>> {
  /** Every call any of its handlers received, in order. */
  readonly calls: HarnessCall[];
  /** Names of handlers built and not yet closed. */
  readonly open: Set<string>;
  /** How many handlers were built (to see whether a config change rebuilt one). */
  builds: number;
}

/**
 * A test double of an adapter that takes every template, answers checks OK and quota grants in full unless told
 * otherwise, and records every call. For testing mixer's dispatch, or an adapter that wraps another.
 */
export function createRecordingAdapter(
  name = 'recorder',
  behaviour: RecordingBehaviour = {},
  templates: readonly TemplateName[] = [
    'checknothing',
    'listentry',
    'authorization',
    'quota',
    'metric',
    'logentry',
    'reportnothing',
  ],
): RecordingAdapter {
  const calls: HarnessCall[] = [];
  const open = new Set<string>();
  const adapter: RecordingAdapter = {
    name,
    description: 'records every call (test double)',
    templates,
    calls,
    open,
    builds: 0,
    validate: (params) => (params ?? {}) as Record<string, unknown>,
    build: async (_params, env) => {
      adapter.builds++;
      open.add(env.handlerName);
      const check = async (template: TemplateName, instance: unknown) => {
        const result = (await behaviour.check?.(template, instance)) ?? checkOk();
        calls.push({ template, instances: [instance], result });
        return result;
      };
      const report = (template: TemplateName) => async (instances: readonly unknown[]) => {
        calls.push({ template, instances });
      };
      return {
        handleCheckNothing: (i: unknown) => check('checknothing', i),
        handleListEntry: (i: unknown) => check('listentry', i),
        handleAuthorization: (i: unknown) => check('authorization', i),
        handleQuota: async (instance: QuotaInstance, args: QuotaArgs) => {
          const result = (await behaviour.quota?.(instance, args)) ?? quotaGranted(args.amount, 60_000);
          calls.push({ template: 'quota', instances: [instance], args, result });
          return result;
        },
        handleMetric: report('metric'),
        handleLogEntry: report('logentry'),
        handleReportNothing: report('reportnothing'),
        close: async () => {
          open.delete(env.handlerName);
        },
      };
    },
  };
  return adapter;
}
