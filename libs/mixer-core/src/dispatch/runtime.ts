/**
 * Mixer's runtime: turns config resources into a compiled snapshot (manifest, handlers built by their adapters,
 * instances and rules with compiled expressions) and dispatches Check, Quota and Report through it.
 *
 * A new config is compiled completely before it replaces the old one, so requests always see one consistent
 * snapshot. Handlers whose adapter and params did not change are carried over (a memquota keeps its counts, a
 * prometheus handler its port); handlers no longer used are closed after the swap. A resource with problems is
 * left out with its errors reported, and so is everything that depends on it; the rest of the config applies.
 */
import {
  Code,
  DEFAULT_VALID_DURATION_MS,
  DEFAULT_VALID_USE_COUNT,
  HANDLER_METHOD,
  ParamsError,
  TEMPLATE_VARIETY,
  handlesTemplate,
  status,
} from '@flotilla/mixer-adapter-sdk';
import type {
  Adapter,
  AdapterLogger,
  AdapterMetrics,
  CheckResult,
  Handler,
  QuotaArgs,
  QuotaInstance,
  QuotaResult,
  Status,
  TemplateName,
  TemplateVariety,
} from '@flotilla/mixer-adapter-sdk';
import type { AttributeBag } from '../attributes/bag';
import type { ReferenceTracker } from '../attributes/bag';
import { AttributeManifest, ManifestConflictError } from '../attributes/manifest';
import { ConfigError, parseResource, resolveReference } from '../config/model';
import type {
  ConfigResource,
  HandlerConfig,
  HeaderOperationKind,
  MixerConfig,
  RuleConfig,
} from '../config/model';
import { EvalError, compileExpression } from '../expr/compile';
import type { CompiledExpression, EvalContext } from '../expr/compile';
import { ExpressionError } from '../expr/parser';
import { InstanceConfigError, compileInstance } from '../templates/templates';
import { DEFAULT_REMOTE_TIMEOUT_MS, remoteAdapter } from './remote-adapter';
import type { CompiledInstance } from '../templates/templates';

export interface HeaderOperation {
  readonly name: string;
  readonly value: string;
  readonly operation: HeaderOperationKind;
}

/** The combined answer of every check handler a request reached. */
export interface CheckOutcome {
  readonly status: Status;
  readonly validDurationMs: number;
  readonly validUseCount: number;
  readonly requestHeaderOperations: readonly HeaderOperation[];
  readonly responseHeaderOperations: readonly HeaderOperation[];
}

interface LiveHandler {
  readonly fqn: string;
  readonly key: string;
  readonly adapter: Adapter;
  readonly handler: Handler;
}

interface CompiledHeaderOp {
  readonly name: string;
  readonly operation: HeaderOperationKind;
  readonly values: readonly CompiledExpression[];
}

interface CompiledAction {
  readonly handler: LiveHandler;
  readonly instances: readonly CompiledInstance[];
}

interface CompiledRule {
  readonly fqn: string;
  readonly namespace: string;
  /** undefined: always matches. */
  readonly match?: CompiledExpression;
  /** Actions with only the instances of one variety. */
  readonly actions: Readonly<Record<TemplateVariety, readonly CompiledAction[]>>;
  readonly requestHeaderOperations: readonly CompiledHeaderOp[];
  readonly responseHeaderOperations: readonly CompiledHeaderOp[];
}

export interface Snapshot {
  readonly manifest: AttributeManifest;
  readonly handlers: ReadonlyMap<string, LiveHandler>;
  readonly instances: ReadonlyMap<string, CompiledInstance>;
  readonly rules: readonly CompiledRule[];
  /** Rules with at least one action of each variety, in config order. */
  readonly byVariety: Readonly<Record<TemplateVariety, readonly CompiledRule[]>>;
}

export interface ApplyResult {
  /** One message per resource left out, naming it and its problems. */
  readonly errors: readonly string[];
  readonly handlers: number;
  readonly instances: number;
  readonly rules: number;
}

export interface RuntimeOptions {
  /** Adapters by name (a handler's compiledAdapter). */
  readonly adapters: ReadonlyMap<string, Adapter>;
  readonly logger: AdapterLogger;
  /**
   * Rules in this namespace apply to every request; rules elsewhere only to requests whose destination.namespace
   * is theirs (Istio's config default namespace, istio-system).
   */
  readonly defaultNamespace?: string;
  /** Counters adapters may add to mixer's /metrics. */
  readonly metrics?: AdapterMetrics;
  /** Loads an adapter by npm package name when no registered adapter has the name (third-party adapters). */
  readonly loadAdapter?: (name: string) => Promise<Adapter | undefined>;
}

const EMPTY_SNAPSHOT: Snapshot = {
  manifest: AttributeManifest.standard(),
  handlers: new Map(),
  instances: new Map(),
  rules: [],
  byVariety: { check: [], quota: [], report: [] },
};

function handlerKey(h: HandlerConfig): string {
  return JSON.stringify([h.adapter, h.params, h.connection ?? null, h.connectionTimeoutMs ?? null]);
}

/** Default loader: the package's default export, or its export named `adapter`. */
export async function loadAdapterPackage(name: string): Promise<Adapter | undefined> {
  if (!/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/.test(name)) return undefined;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(name)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const candidate = (mod.adapter ?? mod.default) as Partial<Adapter> | undefined;
  const inner = (candidate as { default?: Partial<Adapter> } | undefined)?.default;
  const a = candidate && typeof candidate.build === 'function' ? candidate : inner;
  return a && typeof a.build === 'function' && typeof a.validate === 'function' && Array.isArray(a.templates)
    ? (a as Adapter)
    : undefined;
}

export class MixerRuntime {
  private current: Snapshot = EMPTY_SNAPSHOT;
  private readonly defaultNamespace: string;
  private applying: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: RuntimeOptions) {
    this.defaultNamespace = options.defaultNamespace ?? 'istio-system';
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  /** Compiles `resources` and makes them the config in force. Calls are serialised. */
  apply(resources: readonly ConfigResource[]): Promise<ApplyResult> {
    const next = this.applying.then(() => this.applyNow(resources));
    this.applying = next.catch(() => undefined);
    return next;
  }

  private async adapterFor(name: string): Promise<Adapter | undefined> {
    return this.options.adapters.get(name) ?? (await this.options.loadAdapter?.(name));
  }

  private async applyNow(resources: readonly ConfigResource[]): Promise<ApplyResult> {
    const errors: string[] = [];
    const adapterKinds = new Set(this.options.adapters.keys());
    const parsed: MixerConfig[] = [];
    for (const r of resources) {
      try {
        parsed.push(parseResource(r, { adapterKinds }));
      } catch (err) {
        if (err instanceof ConfigError) errors.push(err.message);
        else throw err;
      }
    }
    const ofKind = <K extends MixerConfig['kind']>(kind: K) =>
      parsed.filter((p): p is Extract<MixerConfig, { kind: K }> => p.kind === kind);

    // 1. Manifest: the standard vocabulary plus every attributemanifest.
    const manifest = AttributeManifest.standard();
    for (const m of ofKind('attributemanifest')) {
      try {
        manifest.add(m.attributes, `attributemanifest ${m.fqn}`);
      } catch (err) {
        if (err instanceof ManifestConflictError) errors.push(err.message);
        else throw err;
      }
    }

    // 2. Instances: compiled against the manifest.
    const instances = new Map<string, CompiledInstance>();
    for (const i of ofKind('instance')) {
      try {
        instances.set(i.fqn, compileInstance(i.fqn, i.template, i.params, manifest));
      } catch (err) {
        if (err instanceof InstanceConfigError) errors.push(`instance ${i.fqn}: ${err.problems.join('; ')}`);
        else throw err;
      }
    }

    // 3. Handlers: validated and built (or carried over when unchanged).
    const previous = this.current.handlers;
    const handlers = new Map<string, LiveHandler>();
    const seenFqns = new Set<string>();
    for (const h of ofKind('handler')) {
      if (seenFqns.has(h.fqn)) {
        errors.push(`handler ${h.fqn}: defined more than once`);
        continue;
      }
      seenFqns.add(h.fqn);
      const key = handlerKey(h);
      const old = previous.get(h.fqn);
      if (old && old.key === key) {
        handlers.set(h.fqn, old);
        continue;
      }
      const live = await this.buildHandler(h, key, errors);
      if (live) handlers.set(h.fqn, live);
    }

    // 4. Rules: match compiled; actions resolved to live handlers and compiled instances.
    const rules: CompiledRule[] = [];
    const knownKinds = new Set(['handler', 'instance', ...adapterKinds, ...Object.keys(TEMPLATE_VARIETY)]);
    for (const r of ofKind('rule')) {
      const rule = this.compileRule(r, manifest, handlers, instances, knownKinds);
      if ('problems' in rule) errors.push(`rule ${r.fqn}: ${rule.problems.join('; ')}`);
      else rules.push(rule);
    }

    const byVariety = {
      check: rules.filter(
        (r) =>
          r.actions.check.length > 0 ||
          r.requestHeaderOperations.length > 0 ||
          r.responseHeaderOperations.length > 0,
      ),
      quota: rules.filter((r) => r.actions.quota.length > 0),
      report: rules.filter((r) => r.actions.report.length > 0),
    };
    const old = this.current;
    this.current = { manifest, handlers, instances, rules, byVariety };

    // Close handlers the new snapshot no longer holds (after the swap: in-flight calls finish on the old one).
    const kept = new Set([...handlers.values()].map((h) => h.handler));
    for (const h of old.handlers.values()) {
      if (!kept.has(h.handler)) await this.closeHandler(h);
    }
    for (const e of errors) this.options.logger.warn({ error: e }, 'config resource left out');
    return { errors, handlers: handlers.size, instances: instances.size, rules: rules.length };
  }

  private async buildHandler(
    h: HandlerConfig,
    key: string,
    errors: string[],
  ): Promise<LiveHandler | undefined> {
    // A handler with a connection is served out of process, whatever its adapter is called.
    const adapter = h.connection
      ? remoteAdapter(h.adapter, {
          address: h.connection,
          timeoutMs: h.connectionTimeoutMs ?? DEFAULT_REMOTE_TIMEOUT_MS,
        })
      : await this.adapterFor(h.adapter);
    if (!adapter) {
      errors.push(
        `handler ${h.fqn}: no adapter named ${JSON.stringify(h.adapter)} (known: ${[...this.options.adapters.keys()].join(', ')})`,
      );
      return undefined;
    }
    let params: unknown;
    try {
      params = adapter.validate(h.params);
    } catch (err) {
      const problems = err instanceof ParamsError ? err.problems.join('; ') : (err as Error).message;
      errors.push(`handler ${h.fqn}: invalid params for ${adapter.name}: ${problems}`);
      return undefined;
    }
    try {
      const handler = await adapter.build(params, {
        logger: this.options.logger,
        handlerName: h.fqn,
        metrics: this.options.metrics,
      });
      return { fqn: h.fqn, key, adapter, handler };
    } catch (err) {
      errors.push(`handler ${h.fqn}: ${adapter.name} could not build a handler: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async closeHandler(h: LiveHandler): Promise<void> {
    try {
      await h.handler.close();
    } catch (err) {
      this.options.logger.warn({ handler: h.fqn, err: (err as Error).message }, 'handler close failed');
    }
  }

  private compileRule(
    r: RuleConfig,
    manifest: AttributeManifest,
    handlers: ReadonlyMap<string, LiveHandler>,
    instances: ReadonlyMap<string, CompiledInstance>,
    knownKinds: ReadonlySet<string>,
  ): CompiledRule | { problems: string[] } {
    const problems: string[] = [];
    let match: CompiledExpression | undefined;
    if (r.match.trim() !== '') {
      try {
        match = compileExpression(r.match, manifest, 'BOOL');
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        problems.push(`match: ${err.reason} at position ${err.position} of ${JSON.stringify(r.match)}`);
      }
    }
    const actions: Record<TemplateVariety, CompiledAction[]> = { check: [], quota: [], report: [] };
    r.actions.forEach((a, i) => {
      const handlerFqn = resolveReference(a.handler, r.namespace, knownKinds);
      const handler = handlers.get(handlerFqn);
      if (!handler) {
        problems.push(`actions[${i}]: handler ${handlerFqn} is not defined or not valid`);
        return;
      }
      const byVariety: Record<TemplateVariety, CompiledInstance[]> = { check: [], quota: [], report: [] };
      for (const name of a.instances) {
        const fqn = resolveReference(name, r.namespace, knownKinds);
        const inst = instances.get(fqn);
        if (!inst) {
          problems.push(`actions[${i}]: instance ${fqn} is not defined or not valid`);
          continue;
        }
        if (
          !handler.adapter.templates.includes(inst.template) ||
          !handlesTemplate(handler.handler, inst.template)
        ) {
          problems.push(
            `actions[${i}]: handler ${handlerFqn} (${handler.adapter.name}) does not take ${inst.template} instances (${fqn}); it takes ${handler.adapter.templates.join(', ')}`,
          );
          continue;
        }
        byVariety[TEMPLATE_VARIETY[inst.template]].push(inst);
      }
      for (const v of ['check', 'quota', 'report'] as const)
        if (byVariety[v].length) actions[v].push({ handler, instances: byVariety[v] });
    });
    const headerOps = (ops: RuleConfig['requestHeaderOperations'], what: string): CompiledHeaderOp[] =>
      ops.map((op, i) => ({
        name: op.name,
        operation: op.operation,
        values: op.values.flatMap((v, j) => {
          try {
            return [compileExpression(v, manifest, 'STRING')];
          } catch (err) {
            if (!(err instanceof ExpressionError)) throw err;
            problems.push(
              `${what}[${i}].values[${j}]: ${err.reason} at position ${err.position} of ${JSON.stringify(v)}`,
            );
            return [];
          }
        }),
      }));
    const requestHeaderOperations = headerOps(r.requestHeaderOperations, 'requestHeaderOperations');
    const responseHeaderOperations = headerOps(r.responseHeaderOperations, 'responseHeaderOperations');
    if (problems.length) return { problems };
    return {
      fqn: r.fqn,
      namespace: r.namespace,
      match,
      actions,
      requestHeaderOperations,
      responseHeaderOperations,
    };
  }

  /** Whether `rule` applies to this request: its namespace, then its match. Failures to evaluate are "no". */
  private applies(rule: CompiledRule, ctx: EvalContext): boolean {
    if (rule.namespace !== this.defaultNamespace) {
      const ns = ctx.bag.get('destination.namespace');
      ctx.refs?.attribute('destination.namespace', ns !== undefined);
      if (ns !== rule.namespace) return false;
    }
    return rule.match ? rule.match.isTrue(ctx) : true;
  }

  private buildInstance(inst: CompiledInstance, ctx: EvalContext): Record<string, unknown> | undefined {
    try {
      return inst.build(ctx);
    } catch (err) {
      if (err instanceof EvalError) {
        this.options.logger.debug({ instance: inst.fqn, err: err.message }, 'instance not built');
        return undefined;
      }
      throw err;
    }
  }

  /** Runs every check rule that applies; the first denial (in rule order) decides; validity is the minimum. */
  async check(bag: AttributeBag, refs?: ReferenceTracker): Promise<CheckOutcome> {
    const snap = this.current;
    const ctx: EvalContext = { bag, refs };
    const calls: Promise<CheckResult>[] = [];
    const requestOps: HeaderOperation[] = [];
    const responseOps: HeaderOperation[] = [];
    for (const rule of snap.byVariety.check) {
      if (!this.applies(rule, ctx)) continue;
      for (const action of rule.actions.check) {
        for (const inst of action.instances) {
          const instance = this.buildInstance(inst, ctx);
          if (!instance) {
            calls.push(
              Promise.resolve(
                failure(
                  Code.INTERNAL,
                  `instance ${inst.fqn} could not be built from the request's attributes`,
                ),
              ),
            );
            continue;
          }
          calls.push(this.callCheck(action.handler, inst.template, instance));
        }
      }
      this.headerOps(rule.requestHeaderOperations, ctx, requestOps);
      this.headerOps(rule.responseHeaderOperations, ctx, responseOps);
    }
    const results = await Promise.all(calls);
    let validDurationMs = DEFAULT_VALID_DURATION_MS;
    let validUseCount = DEFAULT_VALID_USE_COUNT;
    let denied: Status | undefined;
    for (const r of results) {
      if (!denied && r.status.code !== Code.OK) denied = r.status;
      validDurationMs = Math.min(validDurationMs, r.validDurationMs);
      validUseCount = Math.min(validUseCount, r.validUseCount);
    }
    return {
      status: denied ?? { code: Code.OK, message: '' },
      validDurationMs: Math.max(0, validDurationMs),
      validUseCount: Math.max(0, validUseCount),
      requestHeaderOperations: denied ? [] : requestOps,
      responseHeaderOperations: denied ? [] : responseOps,
    };
  }

  private headerOps(ops: readonly CompiledHeaderOp[], ctx: EvalContext, out: HeaderOperation[]): void {
    for (const op of ops) {
      if (op.operation === 'REMOVE') {
        out.push({ name: op.name, value: '', operation: 'REMOVE' });
        continue;
      }
      op.values.forEach((v, i) => {
        try {
          const value = v.evaluate(ctx) as string;
          out.push({ name: op.name, value, operation: i > 0 ? 'APPEND' : op.operation });
        } catch (err) {
          if (!(err instanceof EvalError)) throw err;
        }
      });
    }
  }

  private async callCheck(h: LiveHandler, template: TemplateName, instance: unknown): Promise<CheckResult> {
    try {
      const fn = (h.handler as unknown as Record<string, (i: unknown) => Promise<CheckResult>>)[
        HANDLER_METHOD[template]
      ];
      return await fn.call(h.handler, instance);
    } catch (err) {
      this.options.logger.warn(
        { handler: h.fqn, template, err: (err as Error).message },
        'check handler failed',
      );
      return failure(Code.INTERNAL, `handler ${h.fqn} failed: ${(err as Error).message}`);
    }
  }

  /**
   * Allocates quota `quotaName` (an instance name: short, fully qualified, or name.quota.namespace) from every
   * handler an applicable rule routes it to; the smallest grant wins. With no rule for it, the whole amount is
   * granted (as Istio does).
   */
  async quota(
    bag: AttributeBag,
    quotaName: string,
    args: QuotaArgs,
    refs?: ReferenceTracker,
  ): Promise<QuotaResult> {
    const snap = this.current;
    const ctx: EvalContext = { bag, refs };
    const calls: Promise<QuotaResult>[] = [];
    for (const rule of snap.byVariety.quota) {
      if (!this.applies(rule, ctx)) continue;
      for (const action of rule.actions.quota) {
        for (const inst of action.instances) {
          if (!quotaNameMatches(inst.fqn, quotaName)) continue;
          const instance = this.buildInstance(inst, ctx);
          if (!instance) {
            calls.push(
              Promise.resolve({
                status: status(Code.INTERNAL, `instance ${inst.fqn} could not be built`),
                amount: 0,
                validDurationMs: 0,
              }),
            );
            continue;
          }
          calls.push(this.callQuota(action.handler, instance as unknown as QuotaInstance, args));
        }
      }
    }
    if (calls.length === 0)
      return {
        status: { code: Code.OK, message: '' },
        amount: args.amount,
        validDurationMs: DEFAULT_VALID_DURATION_MS,
      };
    const results = await Promise.all(calls);
    return results.reduce((a, b) => {
      if (a.status.code !== Code.OK) return a;
      if (b.status.code !== Code.OK) return b;
      return b.amount < a.amount || (b.amount === a.amount && b.validDurationMs < a.validDurationMs) ? b : a;
    });
  }

  private async callQuota(h: LiveHandler, instance: QuotaInstance, args: QuotaArgs): Promise<QuotaResult> {
    try {
      return await (
        h.handler as unknown as { handleQuota: (i: QuotaInstance, a: QuotaArgs) => Promise<QuotaResult> }
      ).handleQuota(instance, args);
    } catch (err) {
      this.options.logger.warn({ handler: h.fqn, err: (err as Error).message }, 'quota handler failed');
      return {
        status: status(Code.UNAVAILABLE, `handler ${h.fqn} failed: ${(err as Error).message}`),
        amount: 0,
        validDurationMs: 0,
      };
    }
  }

  /**
   * Builds the report instances of every bag and hands each handler its instances of each template in one call.
   * Returns the handler failures (the report itself is accepted: telemetry is best-effort).
   */
  async report(bags: readonly AttributeBag[]): Promise<string[]> {
    const snap = this.current;
    const batches = new Map<LiveHandler, Map<TemplateName, unknown[]>>();
    for (const bag of bags) {
      const ctx: EvalContext = { bag };
      for (const rule of snap.byVariety.report) {
        if (!this.applies(rule, ctx)) continue;
        for (const action of rule.actions.report) {
          let byTemplate = batches.get(action.handler);
          if (!byTemplate) batches.set(action.handler, (byTemplate = new Map()));
          for (const inst of action.instances) {
            const instance = this.buildInstance(inst, ctx);
            if (!instance) continue;
            let list = byTemplate.get(inst.template);
            if (!list) byTemplate.set(inst.template, (list = []));
            list.push(instance);
          }
        }
      }
    }
    const failures: string[] = [];
    const calls: Promise<void>[] = [];
    for (const [h, byTemplate] of batches) {
      for (const [template, list] of byTemplate) {
        if (list.length === 0) continue;
        const fn = (h.handler as unknown as Record<string, (i: unknown[]) => Promise<void>>)[
          HANDLER_METHOD[template]
        ];
        calls.push(
          (async () => {
            try {
              await fn.call(h.handler, list);
            } catch (err) {
              failures.push(`handler ${h.fqn} (${template}): ${(err as Error).message}`);
            }
          })(),
        );
      }
    }
    await Promise.all(calls);
    for (const f of failures) this.options.logger.warn({ err: f }, 'report handler failed');
    return failures;
  }

  /** Closes every handler. */
  async close(): Promise<void> {
    await this.applying;
    const snap = this.current;
    this.current = EMPTY_SNAPSHOT;
    for (const h of snap.handlers.values()) await this.closeHandler(h);
  }
}

function failure(code: number, message: string): CheckResult {
  return { status: status(code, message), validDurationMs: 0, validUseCount: 0 };
}

/** "requestcount" / "requestcount.istio-system" / "requestcount.quota.istio-system" all name requestcount.istio-system. */
export function quotaNameMatches(fqn: string, requested: string): boolean {
  if (requested === fqn) return true;
  const [name, ns] = [fqn.slice(0, fqn.indexOf('.')), fqn.slice(fqn.indexOf('.') + 1)];
  return requested === name || requested === `${name}.quota.${ns}` || requested === `${name}.instance.${ns}`;
}
