import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, checkDenied, createRecordingAdapter, silentLogger } from '@flotilla/mixer-adapter-sdk';
import type { Value } from '@flotilla/mixer-adapter-sdk';
import { ReferenceTracker } from '../attributes/bag';
import { YamlFolderSource } from '../config/source';
import { MixerRuntime } from './runtime';

const DENY_BANNED = `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: denyall, namespace: istio-system }
spec:
  compiledAdapter: deny
  params: { message: banned user }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: denyrequest, namespace: istio-system }
spec:
  compiledTemplate: checknothing
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: denybanned, namespace: istio-system }
spec:
  match: request.headers["x-user"] == "banned"
  actions:
  - handler: denyall
    instances: [denyrequest]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: tagusers, namespace: istio-system }
spec:
  match: request.headers["x-user"] != "banned"
  requestHeaderOperations:
  - name: x-checked-user
    values: ['request.headers["x-user"] + "@mixer"']
`;

const TELEMETRY = `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: rec, namespace: istio-system }
spec: { compiledAdapter: recorder }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: requestcount, namespace: istio-system }
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions:
      destination: destination.service.host | "unknown"
      code: response.code | 200
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: perdest, namespace: istio-system }
spec:
  compiledTemplate: quota
  params:
    dimensions: { destination: destination.service.host | "unknown" }
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: telemetry, namespace: istio-system }
spec:
  actions:
  - handler: rec
    instances: [requestcount, perdest]
`;

/** A denier stand-in whose message comes from its params (the real one is a separate lib built on the SDK). */
const deny = {
  ...createRecordingAdapter('deny'),
  validate: (p: unknown) => p as Record<string, unknown>,
  build: async (p: Record<string, unknown>) => ({
    handleCheckNothing: async () => checkDenied(String(p.message), Code.PERMISSION_DENIED, 5000, 100),
    close: async () => undefined,
  }),
  templates: ['checknothing'] as const,
};

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mixer-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const bag = (entries: Record<string, Value>) => new Map(Object.entries(entries));

describe('MixerRuntime', () => {
  it('denies what a denier rule matches and allows the rest (config from a YAML folder)', async () => {
    const recorder = createRecordingAdapter('recorder');
    const runtime = new MixerRuntime({
      adapters: new Map<string, never>([
        ['deny', deny as never],
        ['recorder', recorder as never],
      ]),
      logger: silentLogger,
    });
    const source = new YamlFolderSource(folder({ 'deny.yaml': DENY_BANNED }));
    const { resources, errors } = await source.load();
    expect(errors).toEqual([]);
    expect((await runtime.apply(resources)).errors).toEqual([]);

    const denied = await runtime.check(bag({ 'request.headers': { 'x-user': 'banned' } }));
    expect(denied.status).toEqual({ code: Code.PERMISSION_DENIED, message: 'banned user' });
    expect(denied.validDurationMs).toBe(5000);
    expect(denied.validUseCount).toBe(100);
    expect(denied.requestHeaderOperations).toEqual([]);

    const refs = new ReferenceTracker();
    const allowed = await runtime.check(bag({ 'request.headers': { 'x-user': 'alice' } }), refs);
    expect(allowed.status.code).toBe(Code.OK);
    expect(allowed.requestHeaderOperations).toEqual([
      { name: 'x-checked-user', value: 'alice@mixer', operation: 'REPLACE' },
    ]);
    expect(refs.mapKeys.get('request.headers')).toEqual(new Map([['x-user', 'EXACT']]));

    // No header at all: the match cannot be evaluated, so the rule does not apply.
    expect((await runtime.check(bag({}))).status.code).toBe(Code.OK);
  });

  it('leaves out a rule with a bad match, reporting the position, and keeps the rest of the config', async () => {
    const runtime = new MixerRuntime({ adapters: new Map([['deny', deny as never]]), logger: silentLogger });
    const source = new YamlFolderSource(
      folder({
        'deny.yaml': DENY_BANNED.replace(
          'request.headers["x-user"] == "banned"',
          'request.headers["x-user"] === "banned"',
        ),
      }),
    );
    const result = await runtime.apply((await source.load()).resources);
    expect(result.errors).toEqual([
      'rule denybanned.istio-system: match: unexpected character "=" at position 28 of "request.headers[\\"x-user\\"] === \\"banned\\""',
    ]);
    expect(result.handlers).toBe(1);
    expect(result.rules).toBe(1);
  });

  it('reports unknown adapters, bad params, unknown templates and dangling references', async () => {
    const runtime = new MixerRuntime({ adapters: new Map([['deny', deny as never]]), logger: silentLogger });
    const source = new YamlFolderSource(
      folder({
        'bad.yaml': `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: h1 }
spec: { compiledAdapter: nosuch }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: i1 }
spec: { compiledTemplate: tracespan }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: i2 }
spec: { compiledTemplate: listentry, params: { value: request.size } }
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: r1 }
spec: { actions: [{ handler: h1, instances: [i1] }] }
`,
        'broken.yaml': 'kind: [',
      }),
    );
    const snapshot = await source.load();
    expect(snapshot.errors).toHaveLength(1);
    expect(snapshot.errors[0]).toMatch(/^broken.yaml: /);
    const { errors } = await runtime.apply(snapshot.resources);
    expect(errors).toEqual([
      expect.stringMatching(
        /^instance istio-system\/i1 \(bad.yaml#2\): spec.compiledTemplate must be one of/,
      ),
      'instance i2.istio-system: value: expression has type INT64 but STRING is required at position 0 of "request.size"',
      'handler h1.istio-system: no adapter named "nosuch" (known: deny)',
      'rule r1.istio-system: actions[0]: handler h1.istio-system is not defined or not valid',
    ]);
  });

  it('batches report instances per handler and template, and routes quota by instance name', async () => {
    const recorder = createRecordingAdapter('recorder');
    const runtime = new MixerRuntime({
      adapters: new Map([['recorder', recorder as never]]),
      logger: silentLogger,
    });
    await runtime.apply((await new YamlFolderSource(folder({ 't.yaml': TELEMETRY })).load()).resources);
    await runtime.report([
      bag({ 'destination.service.host': 'reviews', 'response.code': 200 }),
      bag({ 'destination.service.host': 'ratings', 'response.code': 503 }),
      bag({}),
    ]);
    const metricCalls = recorder.calls.filter((c) => c.template === 'metric');
    expect(metricCalls).toHaveLength(1);
    expect(metricCalls[0].instances).toEqual([
      {
        name: 'requestcount.istio-system',
        value: 1,
        dimensions: { destination: 'reviews', code: 200 },
        monitoredResourceType: '',
        monitoredResourceDimensions: {},
      },
      {
        name: 'requestcount.istio-system',
        value: 1,
        dimensions: { destination: 'ratings', code: 503 },
        monitoredResourceType: '',
        monitoredResourceDimensions: {},
      },
      {
        name: 'requestcount.istio-system',
        value: 1,
        dimensions: { destination: 'unknown', code: 200 },
        monitoredResourceType: '',
        monitoredResourceDimensions: {},
      },
    ]);
    const q = await runtime.quota(
      bag({ 'destination.service.host': 'reviews' }),
      'perdest.quota.istio-system',
      {
        amount: 2,
        bestEffort: false,
        deduplicationId: 'a',
      },
    );
    expect(q.amount).toBe(2);
    expect(recorder.calls.at(-1)).toMatchObject({
      template: 'quota',
      instances: [{ name: 'perdest.istio-system', dimensions: { destination: 'reviews' } }],
    });
  });

  it('keeps an unchanged handler across config changes and closes the ones no longer used', async () => {
    const recorder = createRecordingAdapter('recorder');
    const runtime = new MixerRuntime({
      adapters: new Map([['recorder', recorder as never]]),
      logger: silentLogger,
    });
    const resources = (await new YamlFolderSource(folder({ 't.yaml': TELEMETRY })).load()).resources;
    await runtime.apply(resources);
    await runtime.apply([...resources]);
    expect(recorder.builds).toBe(1);
    await runtime.apply(resources.filter((r) => r.kind !== 'handler'));
    expect(recorder.open.size).toBe(0);
    await runtime.close();
  });

  it('scopes rules outside the default namespace to requests for that destination namespace', async () => {
    const runtime = new MixerRuntime({ adapters: new Map([['deny', deny as never]]), logger: silentLogger });
    const scoped = DENY_BANNED.replace(/namespace: istio-system/g, 'namespace: bookinfo');
    await runtime.apply((await new YamlFolderSource(folder({ 'd.yaml': scoped })).load()).resources);
    const headers = { 'x-user': 'banned' };
    expect(
      (await runtime.check(bag({ 'request.headers': headers, 'destination.namespace': 'bookinfo' }))).status
        .code,
    ).toBe(Code.PERMISSION_DENIED);
    expect(
      (await runtime.check(bag({ 'request.headers': headers, 'destination.namespace': 'other' }))).status
        .code,
    ).toBe(Code.OK);
  });
});
