import { execFileSync } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { cluster, endpoint, packAny, unpackAny } from '@flotilla/proto';
import { GrpcServer, createLogger } from '@flotilla/service-kit';
import { waitFor } from '@flotilla/testing';
import { Registry } from 'prom-client';
import { AdsServer } from './ads-server';
import { syncDebugHandler } from './debug';
import type { AdsServerOptions } from './ads-server';
import { ResourceSnapshot } from './snapshot';
import { DeltaTestClient, SotwTestClient, TEST_NODE } from './testing/ads-test-client';
import { TypeUrl } from './type-urls';
import type { ConnectionInfo, Generator, ResourceEntry } from './types';
import { contentVersion, setVersion } from './versions';

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;

function clusterEntry(name: string, statName = name): ResourceEntry {
  return {
    name,
    resource: packAny(cluster.Cluster, cluster.Cluster.fromPartial({ name, altStatName: statName })),
  };
}

function endpointsEntry(name: string, port: number): ResourceEntry {
  const cla = endpoint.ClusterLoadAssignment.fromPartial({
    clusterName: name,
    endpoints: [
      {
        lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: port } } } }],
      },
    ],
  });
  return { name, resource: packAny(endpoint.ClusterLoadAssignment, cla) };
}

function namesIn(response: { resources: { typeUrl: string; value: Buffer }[] }): string[] {
  return response.resources
    .map((any) => {
      const msg = unpackAny(any) as { name?: string; clusterName?: string };
      return msg.name ?? msg.clusterName ?? '';
    })
    .sort();
}

interface Harness {
  ads: AdsServer;
  snapshot: ResourceSnapshot;
  registry: Registry;
  address: string;
  stop(): Promise<void>;
}

const open: { close(): void }[] = [];
const harnesses: Harness[] = [];

async function start(options: Partial<AdsServerOptions> = {}): Promise<Harness> {
  const logger = createLogger('xds-test', 'silent');
  const registry = new Registry();
  const snapshot = new ResourceSnapshot();
  const ads = new AdsServer({
    logger,
    registry,
    fallbackGenerator: snapshot.generator(),
    debounce: { afterMs: 0 },
    ...options,
  });
  const grpcServer = new GrpcServer({
    name: 'xds',
    host: '127.0.0.1',
    port: 0,
    portOption: '--port',
    logger,
  });
  grpcServer.addService(ads.definition, ads.implementation);
  await grpcServer.start();
  const harness: Harness = {
    ads,
    snapshot,
    registry,
    address: grpcServer.address,
    stop: async () => {
      ads.close();
      await grpcServer.stop(1000);
    },
  };
  harnesses.push(harness);
  return harness;
}

function sotw(h: Harness): SotwTestClient {
  const c = new SotwTestClient(h.address);
  open.push(c);
  return c;
}

function delta(h: Harness): DeltaTestClient {
  const c = new DeltaTestClient(h.address);
  open.push(c);
  return c;
}

function typeStatus(h: Harness, typeUrl: string) {
  const [connection] = h.ads.status();
  return connection?.types.find((t) => t.typeUrl === typeUrl);
}

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  for (const h of harnesses.splice(0)) await h.stop();
});

describe('StreamAggregatedResources (SotW)', () => {
  it('serves a wildcard subscription, records the ACK, and resends the full state when a cluster goes away', async () => {
    const h = await start();
    h.snapshot.set(CDS, [clusterEntry('a'), clusterEntry('b')]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: CDS });
    const first = await client.next();
    expect(first.typeUrl).toBe(CDS);
    expect(namesIn(first)).toEqual(['a', 'b']);
    expect(first.versionInfo).toBe(h.snapshot.version(CDS));
    client.ack(first);
    await waitFor('the ACK', () => typeStatus(h, CDS)?.state === 'ACKED', 2000, 10);
    expect(typeStatus(h, CDS)?.acked?.version).toBe(first.versionInfo);

    // Removing a cluster sends the whole remaining set: its absence is the removal.
    h.snapshot.set(CDS, [clusterEntry('a')]);
    h.ads.push([CDS]);
    const second = await client.next();
    expect(namesIn(second)).toEqual(['a']);
    expect(second.versionInfo).not.toBe(first.versionInfo);
    expect(second.nonce).not.toBe(first.nonce);
  });

  it('treats "*" as a wildcard alongside names, and sends only what is named otherwise', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2), endpointsEntry('c', 3)]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: EDS, resourceNames: ['a'] });
    const first = await client.next();
    expect(namesIn(first)).toEqual(['a']);

    // Subscribing to more answers with every subscribed resource.
    client.send({
      typeUrl: EDS,
      resourceNames: ['a', 'b'],
      versionInfo: first.versionInfo,
      responseNonce: first.nonce,
    });
    const second = await client.next();
    expect(namesIn(second)).toEqual(['a', 'b']);

    client.send({
      typeUrl: EDS,
      resourceNames: ['*'],
      versionInfo: second.versionInfo,
      responseNonce: second.nonce,
    });
    const third = await client.next();
    expect(namesIn(third)).toEqual(['a', 'b', 'c']);
    expect(typeStatus(h, EDS)?.wildcard).toBe(true);
  });

  it('pushes a changed resource only to the connections subscribed to it, and stops after unsubscribing', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2)]);
    const onA = sotw(h);
    const onB = sotw(h);
    onA.send({ node: { ...TEST_NODE, id: 'node-a' }, typeUrl: EDS, resourceNames: ['a'] });
    onB.send({ node: { ...TEST_NODE, id: 'node-b' }, typeUrl: EDS, resourceNames: ['b'] });
    const a1 = await onA.next();
    const b1 = await onB.next();
    onA.ack(a1, ['a']);
    onB.ack(b1, ['b']);

    // b changes: the push reaches only the connection watching b (a's version is unchanged, so nothing is sent).
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 20)]);
    h.ads.push([EDS], { scope: (c) => c.watches(EDS, 'b') });
    const b2 = await onB.next();
    expect(namesIn(b2)).toEqual(['b']);
    const cla = unpackAny(b2.resources[0], endpoint.ClusterLoadAssignment);
    expect(cla.endpoints[0].lbEndpoints[0].endpoint?.address?.socketAddress?.portValue).toBe(20);
    await onA.expectQuiet(200);

    // Unsubscribing from everything: later pushes send nothing for the type.
    onB.send({ typeUrl: EDS, resourceNames: [], versionInfo: b2.versionInfo, responseNonce: b2.nonce });
    await waitFor(
      'the unsubscribe',
      () => typeStatus(h, EDS) && h.ads.connections().some((c) => !c.watches(EDS)),
      2000,
      10,
    );
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 21)]);
    h.ads.pushAll('test');
    await h.ads.settle();
    await onB.expectQuiet(200);
  });

  it('with a resource filter, regenerates only the named resources and sends a SotW EDS response of just them', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2), endpointsEntry('c', 3)]);
    const generated: string[][] = [];
    const snapshotGenerator = h.snapshot.generator();
    h.ads.setGenerator(EDS, (context) => {
      generated.push([...context.watched.names].sort());
      return snapshotGenerator(context);
    });
    const onAB = sotw(h);
    const onC = sotw(h);
    onAB.send({ node: { ...TEST_NODE, id: 'node-ab' }, typeUrl: EDS, resourceNames: ['a', 'b'] });
    onC.send({ node: { ...TEST_NODE, id: 'node-c' }, typeUrl: EDS, resourceNames: ['c'] });
    const first = await onAB.next();
    onAB.ack(first, ['a', 'b']);
    onC.ack(await onC.next(), ['c']);
    await waitFor('both ACKs', () => h.ads.status().every((c) => c.types[0]?.state === 'ACKED'), 2000, 10);
    generated.length = 0;

    // Only "a" changed: the connection watching c is not pushed at all, and the other is sent "a" alone.
    h.snapshot.set(EDS, [endpointsEntry('a', 10), endpointsEntry('b', 2), endpointsEntry('c', 3)]);
    h.ads.push([EDS], { reason: 'endpoint', resources: (_connection, _type, name) => name === 'a' });
    const pushed = await onAB.next();
    expect(namesIn(pushed)).toEqual(['a']);
    expect(generated).toEqual([['a']]);
    await onC.expectQuiet(200);
    // A request changing the subscription is answered in full.
    onAB.send({
      typeUrl: EDS,
      resourceNames: ['a', 'b', 'c'],
      versionInfo: pushed.versionInfo,
      responseNonce: pushed.nonce,
    });
    const full = await onAB.next();
    expect(namesIn(full)).toEqual(['a', 'b', 'c']);
    onAB.ack(full, ['a', 'b', 'c']);
    h.ads.push([EDS], { reason: 'endpoint', resources: (_connection, _type, name) => name === 'a' });
    await h.ads.settle();
    await onAB.expectQuiet(200);
  });

  it('finds the streams of a filter that tests names alone through its index, asking it about those names only', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2), endpointsEntry('c', 3)]);
    const onA = sotw(h);
    const onBC = sotw(h);
    const onAll = sotw(h);
    const gone = sotw(h);
    onA.send({ node: { ...TEST_NODE, id: 'node-a' }, typeUrl: EDS, resourceNames: ['a'] });
    onBC.send({ node: { ...TEST_NODE, id: 'node-bc' }, typeUrl: EDS, resourceNames: ['b', 'c'] });
    onAll.send({ node: { ...TEST_NODE, id: 'node-all' }, typeUrl: EDS, resourceNames: [] });
    gone.send({ node: { ...TEST_NODE, id: 'node-gone' }, typeUrl: EDS, resourceNames: ['c'] });
    onA.ack(await onA.next(), ['a']);
    const bc = await onBC.next();
    onAll.ack(await onAll.next(), []);
    await gone.next();
    // node-bc moves from b and c to a alone; node-gone leaves: neither is subscribed to c any more.
    onBC.send({ typeUrl: EDS, resourceNames: ['a'], versionInfo: bc.versionInfo, responseNonce: bc.nonce });
    onBC.ack(await onBC.next(), ['a']);
    gone.close();
    await waitFor('the close', () => h.ads.connections().length === 3, 2000, 10);
    await waitFor('the ACKs', () => h.ads.status().every((c) => c.types[0]?.state === 'ACKED'), 2000, 10);

    const asked: string[] = [];
    const cChanged = Object.assign(
      (connection: ConnectionInfo, _type: string, name: string) => {
        asked.push(`${connection.node.id}:${name}`);
        return name === 'c';
      },
      { byName: (typeUrl: string) => (typeUrl === EDS ? (name: string) => name === 'c' : undefined) },
    );
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2), endpointsEntry('c', 30)]);
    h.ads.push([EDS], { reason: 'endpoint', resources: cChanged });
    // Only the wildcard stream holds c now; the filter was asked about no subscribed name but c (nobody's).
    const pushed = await onAll.next();
    expect(namesIn(pushed)).toEqual(['c']);
    await h.ads.settle();
    await onA.expectQuiet(200);
    await onBC.expectQuiet(0);
    expect(asked.filter((q) => !q.startsWith('node-all:'))).toEqual([]);

    // a changes: both streams subscribed to a (one since its second request) get it, through the index.
    asked.length = 0;
    const aChanged = Object.assign((_c: ConnectionInfo, _type: string, name: string) => name === 'a', {
      byName: () => (name: string) => name === 'a',
    });
    h.snapshot.set(EDS, [endpointsEntry('a', 10), endpointsEntry('b', 2), endpointsEntry('c', 30)]);
    h.ads.push([EDS], { reason: 'endpoint', resources: aChanged });
    expect(namesIn(await onA.next())).toEqual(['a']);
    expect(namesIn(await onBC.next())).toEqual(['a']);
    expect(namesIn(await onAll.next())).toEqual(['a']);
  });

  it('asks the streams its name tests do not hold for (unindexed) about every name, the others only through the index', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('w', 2)]);
    h.snapshot.set(CDS, [clusterEntry('x')]);
    const indexed = sotw(h);
    const other = sotw(h);
    indexed.send({ node: { ...TEST_NODE, id: 'indexed' }, typeUrl: EDS, resourceNames: ['a'] });
    indexed.ack(await indexed.next(), ['a']);
    indexed.send({ typeUrl: CDS, resourceNames: ['x'] });
    indexed.ack(await indexed.next(), ['x']);
    other.send({ node: { ...TEST_NODE, id: 'other' }, typeUrl: EDS, resourceNames: ['w'] });
    other.ack(await other.next(), ['w']);
    await waitFor(
      'the ACKs',
      () => h.ads.status().every((c) => c.types.every((t) => t.state === 'ACKED')),
      2000,
      10,
    );

    // "w" is named in a way the name tests do not know, on the one stream they do not hold for.
    const asked: string[] = [];
    const filter = Object.assign(
      (connection: ConnectionInfo, typeUrl: string, name: string) => {
        asked.push(`${connection.node.id}:${typeUrl === EDS ? 'eds' : 'cds'}:${name}`);
        return connection.node.id === 'other' ? name === 'w' : typeUrl === EDS && name === 'a';
      },
      {
        byName: (typeUrl: string) => (typeUrl === EDS ? (name: string) => name === 'a' : () => false),
        unindexed: (connection: ConnectionInfo) => connection.node.id === 'other',
      },
    );
    h.snapshot.set(EDS, [endpointsEntry('a', 10), endpointsEntry('w', 20)]);
    h.ads.push([EDS, CDS], { reason: 'endpoint', resources: filter });
    expect(namesIn(await indexed.next())).toEqual(['a']);
    expect(namesIn(await other.next())).toEqual(['w']);
    await h.ads.settle();
    await indexed.expectQuiet(200);
    // The indexed stream was asked about "a" alone, found through the index: its CDS names were not gone through.
    expect([...new Set(asked.filter((q) => q.startsWith('indexed:')))]).toEqual(['indexed:eds:a']);
    expect(asked).toContain('other:eds:w');
  });

  it('writes one response to the connections a generator hands the same resources in a push', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2)]);
    const snapshotGenerator = h.snapshot.generator();
    // As pilot does for outputs shared by namespace: one array per push, whoever asks.
    const byPush = new WeakMap<object, ResourceEntry[]>();
    h.ads.setGenerator(EDS, (context) => {
      let entries = byPush.get(context.push);
      if (!entries) {
        entries = snapshotGenerator(context) as ResourceEntry[];
        byPush.set(context.push, entries);
      }
      return entries;
    });
    const clients = [sotw(h), sotw(h), sotw(h)];
    clients.forEach((c, i) =>
      c.send({ node: { ...TEST_NODE, id: `node-${i}` }, typeUrl: EDS, resourceNames: ['a', 'b'] }),
    );
    for (const c of clients) c.ack(await c.next(), ['a', 'b']);
    await waitFor('ACKs', () => h.ads.status().every((c) => c.types[0]?.state === 'ACKED'), 2000, 10);

    // "a" changed, "b" did not: the one changed assignment goes out as one response object, one nonce for all
    // (a nonce need only be unique on its stream), its version_info the version of what it carries.
    h.snapshot.set(EDS, [endpointsEntry('a', 10), endpointsEntry('b', 2)]);
    h.ads.push([EDS], { reason: 'endpoint', resources: () => true });
    const pushed = await Promise.all(clients.map((c) => c.next()));
    for (const response of pushed) expect(namesIn(response)).toEqual(['a']);
    expect(new Set(pushed.map((r) => r.nonce)).size).toBe(1);
    expect(new Set(pushed.map((r) => r.versionInfo)).size).toBe(1);
    const a = endpointsEntry('a', 10).resource;
    expect(pushed[0].versionInfo).toBe(setVersion([{ name: 'a', version: contentVersion(a) }]));
    clients.forEach((c, i) => c.ack(pushed[i], ['a', 'b']));
    await waitFor('ACKs', () => h.ads.status().every((c) => c.types[0]?.state === 'ACKED'), 2000, 10);

    // A later full push of what every client already holds sends nothing.
    h.ads.pushAll('test');
    await h.ads.settle();
    for (const c of clients) await c.expectQuiet(100);
  });

  it('with a resource filter, still sends Listener and Cluster responses whole (SotW full-state types)', async () => {
    const h = await start();
    h.snapshot.set(CDS, [clusterEntry('a'), clusterEntry('b')]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: CDS, resourceNames: ['a', 'b'] });
    client.ack(await client.next(), ['a', 'b']);
    h.snapshot.set(CDS, [clusterEntry('a', 'changed'), clusterEntry('b')]);
    h.ads.push([CDS], { resources: (_connection, _type, name) => name === 'a' });
    expect(namesIn(await client.next())).toEqual(['a', 'b']);
  });

  it('with a resource filter, sends a delta client only the changed resource and removes only filtered ones', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2)]);
    const client = delta(h);
    client.send({ node: TEST_NODE, typeUrl: EDS, resourceNamesSubscribe: ['a', 'b'] });
    client.ack(await client.next());
    h.snapshot.set(EDS, [endpointsEntry('a', 10)]);
    h.ads.push([EDS], { resources: (_connection, _type, name) => name === 'a' });
    const pushed = await client.next();
    expect(pushed.resources.map((r) => r.name)).toEqual(['a']);
    // "b" went away too, but the push did not name it: it is left for a push that does.
    expect(pushed.removedResources).toEqual([]);
    client.ack(pushed);
    h.ads.push([EDS], { resources: (_connection, _type, name) => name === 'b' });
    const removal = await client.next();
    expect(removal.resources).toEqual([]);
    expect(removal.removedResources).toEqual(['b']);
  });

  it('tells a NACK from an ACK only by error_detail, keeps the last ACKed version and goes on pushing', async () => {
    const h = await start();
    h.snapshot.set(CDS, [clusterEntry('a')]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: CDS });
    const good = await client.next();
    client.ack(good);
    await waitFor('the ACK', () => typeStatus(h, CDS)?.state === 'ACKED', 2000, 10);

    h.snapshot.set(CDS, [clusterEntry('a', 'bad')]);
    h.ads.push([CDS]);
    const bad = await client.next();
    // gRFC A46: the NACK may carry the version it rejects; only error_detail makes it a NACK.
    client.send({
      typeUrl: CDS,
      versionInfo: bad.versionInfo,
      responseNonce: bad.nonce,
      errorDetail: { code: GrpcStatus.INVALID_ARGUMENT, message: 'cluster a: unsupported stat name' },
    });
    await waitFor('the NACK', () => typeStatus(h, CDS)?.state === 'NACKED', 2000, 10);
    const status = typeStatus(h, CDS)!;
    expect(status.nack).toMatchObject({
      message: 'cluster a: unsupported stat name',
      code: GrpcStatus.INVALID_ARGUMENT,
      rejectedVersion: bad.versionInfo,
      nonce: bad.nonce,
    });
    expect(status.acked?.version).toBe(good.versionInfo);
    const rejects = await h.registry.getSingleMetric('pilot_total_xds_rejects_total')!.get();
    expect(rejects.values).toEqual([expect.objectContaining({ labels: { type: 'cds' }, value: 1 })]);

    // The same bad config is not sent again, and the stream carries on with the next good one.
    h.ads.pushAll('test');
    await h.ads.settle();
    await client.expectQuiet(150);
    h.snapshot.set(CDS, [clusterEntry('a', 'fixed')]);
    h.ads.push([CDS]);
    const fixed = await client.next();
    client.ack(fixed);
    await waitFor(
      'the ACK of the fix',
      () => typeStatus(h, CDS)?.acked?.version === fixed.versionInfo,
      2000,
      10,
    );
    // The NACK stays visible for the debug page.
    expect(typeStatus(h, CDS)?.nack?.message).toBe('cluster a: unsupported stat name');
  });

  it('ignores a request carrying a stale nonce', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2)]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: EDS, resourceNames: ['a'] });
    const first = await client.next();
    h.snapshot.set(EDS, [endpointsEntry('a', 10), endpointsEntry('b', 2)]);
    h.ads.push([EDS]);
    const second = await client.next();

    // A request answering the older response: not an ACK, and its new names are not applied.
    client.send({
      typeUrl: EDS,
      resourceNames: ['a', 'b'],
      versionInfo: first.versionInfo,
      responseNonce: first.nonce,
    });
    await client.expectQuiet(200);
    expect(typeStatus(h, EDS)).toMatchObject({ state: 'SENT', names: ['a'] });
    const expired = await h.registry.getSingleMetric('pilot_xds_expired_nonce_total')!.get();
    expect(expired.values[0]).toMatchObject({ labels: { type: 'eds' }, value: 1 });

    // The current nonce is honoured.
    client.send({
      typeUrl: EDS,
      resourceNames: ['a', 'b'],
      versionInfo: second.versionInfo,
      responseNonce: second.nonce,
    });
    const third = await client.next();
    expect(namesIn(third)).toEqual(['a', 'b']);
  });

  it('answers the first request of a type after a reconnect even though its nonce is from the old stream', async () => {
    const h = await start();
    h.snapshot.set(CDS, [clusterEntry('a')]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: CDS, versionInfo: 'old', responseNonce: 'from-another-server' });
    expect(namesIn(await client.next())).toEqual(['a']);
  });

  it('sends responses only for the types a client subscribed to', async () => {
    const h = await start();
    h.snapshot.set(CDS, [clusterEntry('a')]);
    h.snapshot.set(EDS, [endpointsEntry('a', 1)]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: CDS });
    const first = await client.next();
    client.ack(first);
    h.snapshot.set(EDS, [endpointsEntry('a', 2)]);
    h.snapshot.set(CDS, [clusterEntry('a', 'x')]);
    h.ads.pushAll('test');
    const second = await client.next();
    expect(second.typeUrl).toBe(CDS);
    await client.expectQuiet(150);
  });

  it('ends a stream whose first request has no node, and one with no type URL, with INVALID_ARGUMENT', async () => {
    const h = await start();
    const noNode = sotw(h);
    noNode.send({ typeUrl: CDS });
    const status = await noNode.status;
    expect(status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(status.details).toMatch(/node/);

    const noType = sotw(h);
    noType.send({ node: TEST_NODE });
    const status2 = await noType.status;
    expect(status2.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(status2.details).toMatch(/type_url/);

    // The server is unharmed.
    h.snapshot.set(CDS, [clusterEntry('a')]);
    const fine = sotw(h);
    fine.send({ node: TEST_NODE, typeUrl: CDS });
    expect(namesIn(await fine.next())).toEqual(['a']);
  });

  it('keeps the last good config when a generator throws, and records the error', async () => {
    let fail = false;
    let port = 1;
    const generator: Generator = () => {
      if (fail) throw new Error('registry unavailable');
      return [endpointsEntry('a', port)];
    };
    const h = await start({ generators: { [EDS]: generator } });
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: EDS, resourceNames: ['a'] });
    const first = await client.next();
    client.ack(first, ['a']);

    fail = true;
    port = 2;
    h.ads.push([EDS]);
    await h.ads.settle();
    await client.expectQuiet(150);
    expect(typeStatus(h, EDS)?.generateError?.message).toBe('registry unavailable');
    const errors = await h.registry.getSingleMetric('pilot_total_xds_internal_errors_total')!.get();
    expect(errors.values[0].value).toBe(1);

    fail = false;
    h.ads.push([EDS]);
    const second = await client.next();
    expect(
      unpackAny(second.resources[0], endpoint.ClusterLoadAssignment).endpoints[0].lbEndpoints[0].endpoint
        ?.address?.socketAddress?.portValue,
    ).toBe(2);
    expect(typeStatus(h, EDS)?.generateError).toBeUndefined();
  });

  it('encodes a resource shared by many connections once, through the cache', async () => {
    let encodes = 0;
    const generator: Generator = ({ cache }) => [
      {
        name: 'shared',
        resource: cache.getOrEncode(CDS, 'shared', 'generation-1', () => {
          encodes++;
          return clusterEntry('shared').resource;
        }),
      },
    ];
    const h = await start({ generators: { [CDS]: generator } });
    const clients = [sotw(h), sotw(h), sotw(h)];
    clients.forEach((c, i) => c.send({ node: { ...TEST_NODE, id: `n${i}` }, typeUrl: CDS }));
    for (const c of clients) expect(namesIn(await c.next())).toEqual(['shared']);
    expect(encodes).toBe(1);
    expect(h.ads.cache.stats()).toMatchObject({ hits: 2, misses: 1 });
  });

  it('holds back a client flooding requests behind a slow generator, and then answers it', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const h = await start({
      generators: {
        [EDS]: async () => {
          if (calls++ === 1) await gate;
          return [endpointsEntry('a', 1), endpointsEntry('b', 2)];
        },
      },
    });
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: EDS, resourceNames: ['a'] });
    const first = await client.next();
    // The second request blocks in the generator; 500 more (all answering the same nonce) queue behind it.
    client.send({
      typeUrl: EDS,
      resourceNames: ['a', 'b'],
      versionInfo: first.versionInfo,
      responseNonce: first.nonce,
    });
    for (let i = 0; i < 500; i++) {
      client.send({
        typeUrl: EDS,
        resourceNames: ['a', 'b'],
        versionInfo: first.versionInfo,
        responseNonce: first.nonce,
      });
    }
    await new Promise((r) => setTimeout(r, 100));
    release();
    const second = await client.next();
    expect(namesIn(second)).toEqual(['a', 'b']);
    // The queued requests carried a stale nonce once the second response went out: all ignored.
    await client.expectQuiet(200);
    client.ack(second, ['a', 'b']);
    await waitFor('the ACK', () => typeStatus(h, EDS)?.state === 'ACKED', 2000, 10);
  });
});

describe('DeltaAggregatedResources', () => {
  it('starts from initial_resource_versions, sending only what differs and removing what is gone', async () => {
    const h = await start();
    const a = endpointsEntry('a', 1);
    h.snapshot.set(EDS, [a, endpointsEntry('b', 2)]);
    const client = delta(h);
    client.send({
      node: TEST_NODE,
      typeUrl: EDS,
      resourceNamesSubscribe: ['*'],
      initialResourceVersions: { a: contentVersion(a.resource), b: 'stale', gone: 'v0' },
    });
    const first = await client.next();
    expect(first.resources.map((r) => r.name)).toEqual(['b']);
    expect(first.resources[0].version).toBe(contentVersion(h.snapshot.resources(EDS)[1].resource));
    expect(first.removedResources).toEqual(['gone']);
    expect(first.systemVersionInfo).toBe(h.snapshot.version(EDS));
    client.ack(first);
    await waitFor('the ACK', () => typeStatus(h, EDS)?.state === 'ACKED', 2000, 10);
  });

  it('subscribes and unsubscribes by name, reports removals and non-existent names, and takes NACKs', async () => {
    const h = await start();
    h.snapshot.set(EDS, [endpointsEntry('a', 1), endpointsEntry('b', 2)]);
    const client = delta(h);
    client.send({ node: TEST_NODE, typeUrl: EDS, resourceNamesSubscribe: ['a'] });
    const first = await client.next();
    expect(first.resources.map((r) => r.name)).toEqual(['a']);
    client.ack(first);

    // Subscribing to b and to a name that does not exist: b is sent, the unknown name comes back as removed.
    client.send({ typeUrl: EDS, resourceNamesSubscribe: ['b', 'nope'] });
    const second = await client.next();
    expect(second.resources.map((r) => r.name)).toEqual(['b']);
    expect(second.removedResources).toEqual(['nope']);
    client.ack(second);

    // Unsubscribing from a: a change to a is no longer sent.
    client.send({ typeUrl: EDS, resourceNamesUnsubscribe: ['a'] });
    await waitFor('the unsubscribe', () => typeStatus(h, EDS)?.names.join() === 'b,nope', 2000, 10);
    h.snapshot.set(EDS, [endpointsEntry('a', 10), endpointsEntry('b', 2)]);
    h.ads.push([EDS]);
    await h.ads.settle();
    await client.expectQuiet(150);

    // b is deleted: it is named in removed_resources.
    h.snapshot.set(EDS, [endpointsEntry('a', 10)]);
    h.ads.push([EDS]);
    const third = await client.next();
    expect(third.resources).toEqual([]);
    expect(third.removedResources).toEqual(['b']);

    // A NACK (error_detail) is recorded against the response it answers.
    client.send({ typeUrl: EDS, responseNonce: third.nonce, errorDetail: { code: 3, message: 'bad' } });
    await waitFor('the NACK', () => typeStatus(h, EDS)?.state === 'NACKED', 2000, 10);
    expect(typeStatus(h, EDS)?.nack?.message).toBe('bad');

    // "nope" appears later: it is sent.
    h.snapshot.set(EDS, [endpointsEntry('a', 10), endpointsEntry('nope', 7)]);
    h.ads.push([EDS]);
    const fourth = await client.next();
    expect(fourth.resources.map((r) => r.name)).toEqual(['nope']);
  });

  it('treats an empty first subscription as a wildcard until "*" is unsubscribed', async () => {
    const h = await start();
    h.snapshot.set(CDS, [clusterEntry('a'), clusterEntry('b')]);
    const client = delta(h);
    client.send({ node: TEST_NODE, typeUrl: CDS });
    const first = await client.next();
    expect(first.resources.map((r) => r.name).sort()).toEqual(['a', 'b']);
    client.ack(first);

    h.snapshot.set(CDS, [clusterEntry('a'), clusterEntry('b'), clusterEntry('c')]);
    h.ads.push([CDS]);
    const second = await client.next();
    expect(second.resources.map((r) => r.name)).toEqual(['c']);
    client.ack(second);

    client.send({ typeUrl: CDS, resourceNamesSubscribe: ['a'], resourceNamesUnsubscribe: ['*'] });
    await waitFor('the wildcard to end', () => typeStatus(h, CDS)?.wildcard === false, 2000, 10);
    h.snapshot.set(CDS, [clusterEntry('a'), clusterEntry('b', 'changed')]);
    h.ads.push([CDS]);
    await h.ads.settle();
    // b and c went with the wildcard (the client dropped them): nothing about them is sent.
    await client.expectQuiet(150);
  });
});

describe('push pipeline', () => {
  it('coalesces a burst of changes into one push', async () => {
    let generations = 0;
    const snapshot = new ResourceSnapshot();
    const serve = snapshot.generator();
    const h = await start({
      debounce: { afterMs: 50, maxMs: 5000 },
      generators: {
        [CDS]: (ctx) => {
          generations++;
          return serve(ctx);
        },
      },
    });
    snapshot.set(CDS, [clusterEntry('a', 'v0')]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: CDS });
    client.ack(await client.next());
    generations = 0;

    for (let i = 1; i <= 20; i++) {
      snapshot.set(CDS, [clusterEntry('a', `v${i}`)]);
      h.ads.push([CDS], { reason: 'config' });
    }
    const pushed = await client.next();
    expect(unpackAny(pushed.resources[0], cluster.Cluster).altStatName).toBe('v20');
    await client.expectQuiet(200);
    expect(generations).toBe(1);
    const debounce = await h.registry.getSingleMetric('pilot_debounce_time')!.get();
    expect(
      debounce.values.find((v) => (v as { metricName?: string }).metricName === 'pilot_debounce_time_count')
        ?.value,
    ).toBe(1);
    const triggers = await h.registry.getSingleMetric('pilot_push_triggers_total')!.get();
    expect(triggers.values[0]).toMatchObject({ labels: { type: 'config' }, value: 20 });
  });

  it('sends endpoint-only pushes at once when their debounce is off, and debounces config pushes still', async () => {
    const h = await start({ debounce: { afterMs: 1000, maxMs: 5000, endpoints: false } });
    h.snapshot.set(CDS, [clusterEntry('a', 'v0')]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: CDS });
    client.ack(await client.next());

    h.snapshot.set(CDS, [clusterEntry('a', 'v1')]);
    const endpointAt = Date.now();
    h.ads.push([CDS], { reason: 'endpoint' });
    client.ack(await client.next());
    expect(Date.now() - endpointAt).toBeLessThan(1000);

    h.snapshot.set(CDS, [clusterEntry('a', 'v2')]);
    const configAt = Date.now();
    h.ads.push([CDS], { reason: 'config' });
    const pushed = await client.next();
    expect(unpackAny(pushed.resources[0], cluster.Cluster).altStatName).toBe('v2');
    expect(Date.now() - configAt).toBeGreaterThanOrEqual(990);
  });

  it('limits concurrent pushes and merges pushes for a connection that is already queued', async () => {
    let running = 0;
    let maxRunning = 0;
    let generations = 0;
    const h = await start({
      maxConcurrentPushes: 2,
      generators: {
        [CDS]: async ({ push }) => {
          generations++;
          if (push.reasons.has('request')) return [clusterEntry('a', 'v0')];
          running++;
          maxRunning = Math.max(maxRunning, running);
          await new Promise((r) => setTimeout(r, 30));
          running--;
          return [clusterEntry('a', `v${generations}`)];
        },
      },
    });
    const clients = Array.from({ length: 6 }, () => sotw(h));
    clients.forEach((c, i) => c.send({ node: { ...TEST_NODE, id: `n${i}` }, typeUrl: CDS }));
    for (const c of clients) c.ack(await c.next());
    generations = 0;
    for (let i = 0; i < 10; i++) h.ads.pushAll('storm');
    await h.ads.settle();
    expect(maxRunning).toBe(2);
    // Each connection was pushed once or twice (a push arriving while its previous one ran), never ten times.
    expect(generations).toBeGreaterThanOrEqual(6);
    expect(generations).toBeLessThanOrEqual(12);
  });
});

describe('status and metrics', () => {
  it('describes each connection as JSON, and exposes Istio-named metrics that promtool accepts', async () => {
    const h = await start({ controlPlaneId: 'pilot-test' });
    h.snapshot.set(CDS, [clusterEntry('a')]);
    const client = sotw(h);
    client.send({ node: TEST_NODE, typeUrl: CDS });
    const response = await client.next();
    expect(response.controlPlane?.identifier).toBe('pilot-test');
    client.ack(response);
    await waitFor('the ACK', () => typeStatus(h, CDS)?.state === 'ACKED', 2000, 10);

    const status = h.ads.status();
    expect(JSON.parse(JSON.stringify(status))).toEqual(status);
    expect(status[0]).toMatchObject({
      id: `${TEST_NODE.id}-1`,
      protocol: 'sotw',
      node: { id: TEST_NODE.id, locality: { region: 'r1', zone: 'z1', subZone: 's1' } },
      types: [
        {
          typeUrl: CDS,
          wildcard: true,
          state: 'ACKED',
          sent: { version: response.versionInfo, nonce: response.nonce, resources: 1 },
          acked: { version: response.versionInfo, nonce: response.nonce },
          resourceVersions: { a: contentVersion(h.snapshot.resources(CDS)[0].resource) },
        },
      ],
    });

    const syncz = syncDebugHandler(h.ads);
    const page = await syncz(
      new URL(`http://localhost/debug/syncz?proxyID=${TEST_NODE.id}`),
      {} as IncomingMessage,
    );
    expect(page.contentType).toBe('application/json');
    expect(JSON.parse(page.body)).toEqual(status);
    const none = await syncz(new URL('http://localhost/debug/syncz?proxyID=nobody'), {} as IncomingMessage);
    expect(JSON.parse(none.body)).toEqual([]);

    const text = await h.registry.metrics();
    for (const name of [
      'pilot_xds{version="1.0-test"} 1',
      'pilot_xds_pushes_total{type="cds"} 1',
      'pilot_xds_push_time_count{type="cds"} 1',
      'pilot_xds_config_size_bytes_count{type="cds"} 1',
      '# TYPE pilot_proxy_convergence_time histogram',
      '# TYPE pilot_debounce_time histogram',
      '# TYPE pilot_total_xds_rejects_total counter',
    ]) {
      expect(text).toContain(name);
    }
    execFileSync('promtool', ['check', 'metrics'], { input: text });

    client.close();
    await waitFor('the disconnect', () => h.ads.connections().length === 0, 2000, 10);
    expect(await h.registry.metrics()).toContain('pilot_xds{version="1.0-test"} 0');
  });
});
