import { GrpcServer, createLogger } from '@flotilla/service-kit';
import { freePorts, waitFor } from '@flotilla/testing';
import { Registry } from 'prom-client';
import { mcpResourceOf } from './resource';
import type { McpResource } from './resource';
import { McpServer } from './server';
import type { McpServerOptions } from './server';
import { McpSink } from './sink';
import type { McpSinkOptions } from './sink';
import { unpackJsonBody } from './struct';

const VS = 'networking.istio.io/v1alpha3/VirtualService';
const DR = 'networking.istio.io/v1alpha3/DestinationRule';
const logger = createLogger('mcp-test', 'silent');

function virtualService(name: string, host: string, version = '1'): McpResource {
  return mcpResourceOf({
    namespace: 'default',
    name,
    version,
    labels: { app: name },
    annotations: { 'flotilla.io/source': `${name}.yaml` },
    createTime: new Date('2024-01-02T03:04:05Z'),
    spec: { hosts: [host], http: [{ route: [{ destination: { host, port: { number: 9080 } } }] }] },
  });
}

interface Galley {
  mcp: McpServer;
  port: number;
  stop(): Promise<void>;
}

async function startGalley(port: number, options: Partial<McpServerOptions> = {}): Promise<Galley> {
  const mcp = new McpServer({ logger, registry: new Registry(), debounce: { afterMs: 0 }, ...options });
  const grpcServer = new GrpcServer({ name: 'mcp', host: '127.0.0.1', port, portOption: '--port', logger });
  grpcServer.addService(mcp.definition, mcp.implementation);
  const bound = await grpcServer.start();
  return {
    mcp,
    port: bound,
    stop: async () => {
      mcp.close();
      await grpcServer.stop(1000);
    },
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function sink(port: number, options: Partial<McpSinkOptions> = {}): McpSink {
  const s = new McpSink({
    address: `127.0.0.1:${port}`,
    node: { id: 'pilot-test' },
    collections: [VS, DR],
    logger,
    backoff: { initialMs: 50, maxMs: 400 },
    ...options,
  });
  cleanups.push(() => s.stop());
  return s;
}

async function galleyOn(port = 0, options: Partial<McpServerOptions> = {}): Promise<Galley> {
  const g = await startGalley(port, options);
  cleanups.push(() => g.stop());
  return g;
}

type Change = { collection: string; names: string[]; removed: string[] };

function recordChanges(s: McpSink): Change[] {
  const changes: Change[] = [];
  s.on('change', (collection, resources, removed) =>
    changes.push({ collection, names: resources.map((r) => r.name).sort(), removed }),
  );
  return changes;
}

function typeStatus(g: Galley, collection: string) {
  return g.mcp.status()[0]?.types.find((t) => t.typeUrl === collection);
}

describe.each(['sotw', 'delta'] as const)('MCP over %s', (mode) => {
  it('delivers the initial snapshot, an update and a removal, with metadata and a Struct body', async () => {
    const galley = await galleyOn();
    galley.mcp.setSnapshot(
      new Map([[VS, [virtualService('reviews', 'reviews'), virtualService('ratings', 'ratings')]]]),
    );
    const s = sink(galley.port, { mode });
    const changes = recordChanges(s);
    s.start();
    await s.waitForSync();

    expect(
      s
        .resources(VS)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['default/ratings', 'default/reviews']);
    expect(s.resources(DR)).toEqual([]);
    const reviews = s.resources(VS).find((r) => r.name === 'default/reviews')!;
    expect(reviews).toMatchObject({
      version: '1',
      labels: { app: 'reviews' },
      annotations: { 'flotilla.io/source': 'reviews.yaml' },
      createTime: new Date('2024-01-02T03:04:05Z'),
    });
    expect(reviews.body.typeUrl).toBe('type.googleapis.com/google.protobuf.Struct');
    expect(unpackJsonBody(reviews.body)).toEqual({
      hosts: ['reviews'],
      http: [{ route: [{ destination: { host: 'reviews', port: { number: 9080 } } }] }],
    });
    expect(s.status()).toMatchObject({
      connected: true,
      collections: { [VS]: { version: galley.mcp.version(VS), resources: 2 } },
    });

    // An update to one collection arrives; only that collection changes. Its delivery is measured (not bounded:
    // this asserts arrival, not speed).
    const sentAt = performance.now();
    const delivered = new Promise<number>((resolve) =>
      s.on('change', (collection, resources) => {
        if (collection === VS && resources.some((r) => r.version === '2'))
          resolve(performance.now() - sentAt);
      }),
    );
    const pushed = galley.mcp.setSnapshot(
      new Map([
        [VS, [virtualService('reviews', 'reviews-v2', '2'), virtualService('ratings', 'ratings')]],
        [DR, []],
      ]),
    );
    expect(pushed).toEqual([VS, DR]);
    const deliveryMs = await delivered;
    expect(deliveryMs).toBeGreaterThanOrEqual(0);
    const updated = s.resources(VS).find((r) => r.name === 'default/reviews')!;
    expect(unpackJsonBody(updated.body).hosts).toEqual(['reviews-v2']);

    // A removal.
    galley.mcp.setSnapshot(new Map([[VS, [virtualService('ratings', 'ratings')]]]));
    await waitFor('the removal', () => s.resources(VS).length === 1, 5000, 10);
    expect(changes.at(-1)).toEqual({
      collection: VS,
      names: ['default/ratings'],
      removed: ['default/reviews'],
    });
    await waitFor('the ACKs', () => typeStatus(galley, VS)?.state === 'ACKED', 2000, 10);
    expect(s.status().collections[VS].version).toBe(galley.mcp.version(VS));
  });

  it('NACKs what the validator rejects, keeps the last good snapshot, and the server records why', async () => {
    const galley = await galleyOn();
    galley.mcp.setCollection(VS, [virtualService('reviews', 'reviews')]);
    const nacks: string[] = [];
    const s = sink(galley.port, {
      mode,
      collections: [VS],
      validate: (_collection, resources) => {
        for (const r of resources) {
          const hosts = unpackJsonBody(r.body).hosts as string[];
          if (hosts.includes('*')) throw new Error(`${r.name}: hosts must not be "*"`);
        }
      },
    });
    s.on('nack', (_c, message) => nacks.push(message));
    s.start();
    await s.waitForSync();

    galley.mcp.setCollection(VS, [virtualService('reviews', '*', '2')]);
    await waitFor('the NACK at the server', () => typeStatus(galley, VS)?.state === 'NACKED', 5000, 10);
    expect(typeStatus(galley, VS)?.nack?.message).toBe('default/reviews: hosts must not be "*"');
    expect(nacks).toEqual(['default/reviews: hosts must not be "*"']);
    expect(s.resources(VS).map((r) => r.version)).toEqual(['1']);
    expect(s.status().collections[VS].lastNack?.message).toBe('default/reviews: hosts must not be "*"');

    // A good update is accepted afterwards.
    galley.mcp.setCollection(VS, [virtualService('reviews', 'reviews', '3')]);
    await waitFor('the good update', () => s.resources(VS)[0]?.version === '3', 5000, 10);
    await waitFor('its ACK', () => typeStatus(galley, VS)?.state === 'ACKED', 2000, 10);
  });

  it('keeps its snapshot while galley is down, reconnects to it on the same port and resyncs', async () => {
    const [port] = await freePorts(1);
    let galley = await startGalley(port);
    galley.mcp.setSnapshot(
      new Map([[VS, [virtualService('reviews', 'reviews'), virtualService('ratings', 'ratings')]]]),
    );
    const s = sink(port, { mode });
    const changes = recordChanges(s);
    let disconnects = 0;
    s.on('disconnected', () => disconnects++);
    s.start();
    await s.waitForSync();

    await galley.stop();
    await waitFor('the disconnect', () => !s.status().connected, 5000, 10);
    expect(s.status().lastError?.message).toBeTruthy();
    expect(s.resources(VS)).toHaveLength(2);

    // Several failed attempts while galley is away, then it comes back with changed config.
    await new Promise((r) => setTimeout(r, 300));
    galley = await startGalley(port);
    cleanups.push(() => galley.stop());
    galley.mcp.setSnapshot(
      new Map([[VS, [virtualService('ratings', 'ratings'), virtualService('details', 'details')]]]),
    );
    await waitFor(
      'the resync',
      () => s.status().connected && s.resources(VS).some((r) => r.name === 'default/details'),
      10_000,
      20,
    );
    expect(
      s
        .resources(VS)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['default/details', 'default/ratings']);
    expect(changes.at(-1)).toMatchObject({ collection: VS, removed: ['default/reviews'] });
    expect(disconnects).toBeGreaterThanOrEqual(1);
    expect(s.status().reconnects).toBeGreaterThanOrEqual(1);
  });
});

describe('McpServer', () => {
  it('pushes only the collections whose content changed', async () => {
    const galley = await galleyOn();
    const reviews = virtualService('reviews', 'reviews');
    expect(galley.mcp.setSnapshot(new Map([[VS, [reviews]]]))).toEqual([VS]);
    const v1 = galley.mcp.version(VS);
    // The same content (even as new objects) is no change.
    expect(galley.mcp.setSnapshot(new Map([[VS, [virtualService('reviews', 'reviews')]]]))).toEqual([]);
    expect(galley.mcp.version(VS)).toBe(v1);
    expect(
      galley.mcp.setSnapshot(
        new Map([
          [VS, [reviews]],
          [DR, []],
        ]),
      ),
    ).toEqual([DR]);
    // A collection left out of the snapshot is emptied.
    expect(galley.mcp.setSnapshot(new Map([[DR, []]]))).toEqual([VS]);
    expect(galley.mcp.resources(VS)).toEqual([]);
  });

  it('serves a sink that names the resources it wants', async () => {
    const galley = await galleyOn();
    galley.mcp.setCollection(VS, [
      virtualService('reviews', 'reviews'),
      virtualService('ratings', 'ratings'),
    ]);
    const s = sink(galley.port, { collections: [VS], resourceNames: { [VS]: ['default/ratings'] } });
    s.start();
    await s.waitForSync();
    expect(s.resources(VS).map((r) => r.name)).toEqual(['default/ratings']);
  });
});
