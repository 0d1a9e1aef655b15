// Pilot's DeltaAggregatedResources end to end, with a raw delta client (no xDS library in between) against real
// galley and pilot processes: subscribe, unsubscribe, removal, NACK, and a reconnect that names the versions it
// already holds. Every expectation is on the wire messages themselves.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ads, discovery } from '@flotilla/proto';
import { waitFor } from '@flotilla/testing';
import { GalleyAndPilot, WORKSPACE_ROOT } from './support';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
const V1 = `outbound|9080|v1|${REVIEWS}`;
const V2 = `outbound|9080|v2|${REVIEWS}`;
const NODE = {
  id: 'sidecar~127.0.0.1~delta-client.bookinfo~bookinfo.svc.cluster.local',
  metadata: { fields: { GENERATOR: { stringValue: 'grpc' } } },
};

type DeltaResponse = discovery.DeltaDiscoveryResponse;

const names = (r: DeltaResponse) => r.resources.map((x) => x.name).sort();

/** One raw delta stream: what pilot sends, in order, and a way to send requests. */
class RawDeltaClient {
  private readonly client: InstanceType<typeof ads.AggregatedDiscoveryServiceClient>;
  private readonly stream: grpc.ClientDuplexStream<discovery.DeltaDiscoveryRequest, DeltaResponse>;
  private readonly received: DeltaResponse[] = [];
  private waiter: (() => void) | undefined;

  constructor(address: string) {
    this.client = new ads.AggregatedDiscoveryServiceClient(address, grpc.credentials.createInsecure());
    this.stream = this.client.deltaAggregatedResources();
    this.stream.on('data', (r: DeltaResponse) => {
      this.received.push(r);
      this.waiter?.();
    });
    this.stream.on('error', () => undefined);
  }

  send(request: Parameters<typeof discovery.DeltaDiscoveryRequest.fromPartial>[0]): void {
    this.stream.write(discovery.DeltaDiscoveryRequest.fromPartial({ node: NODE, typeUrl: CDS, ...request }));
  }

  /** The next response, or a timeout error naming what was awaited. */
  async next(what: string, timeoutMs = 10_000): Promise<DeltaResponse> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no delta response: ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.received.shift()!;
  }

  /**
   * Fails if pilot sends a resource or a removal within `ms`. An empty response is allowed: a server may answer a
   * request that changes nothing (pilot does so for a reconnect's first request, confirming the subscription).
   */
  async expectQuiet(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    const sent = this.received.splice(0).flatMap((r) => [...names(r), ...r.removedResources]);
    expect(sent).toEqual([]);
  }

  ack(response: DeltaResponse): void {
    this.send({ responseNonce: response.nonce });
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

describe('pilot delta xDS with a raw client', () => {
  let controlPlane: GalleyAndPilot;
  let config: string;
  let pilotDebug: string;
  let address: string;
  const clients: RawDeltaClient[] = [];

  const connect = () => {
    const c = new RawDeltaClient(address);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    config = mkdtempSync(join(tmpdir(), 'flotilla-pilot-delta-'));
    cpSync(join(WORKSPACE_ROOT, 'examples', 'bookinfo'), config, { recursive: true });
    controlPlane = await GalleyAndPilot.start(config);
    address = controlPlane.xds;
    pilotDebug = controlPlane.pilotDebug;
  }, 90_000);

  afterAll(() => {
    for (const c of clients) c.close();
    controlPlane?.stop();
  });

  const routingFile = () => join(config, 'routing.yaml');

  it('answers a subscription with exactly the named clusters, each versioned, and is quiet after the ACK', async () => {
    const client = connect();
    client.send({ resourceNamesSubscribe: [V1, V2] });
    const first = await client.next('the subscribed clusters');
    expect(first.typeUrl).toBe(CDS);
    expect(names(first)).toEqual([V1, V2].sort());
    expect(first.resources.every((r) => r.version !== '' && r.resource?.typeUrl === CDS)).toBe(true);
    expect(first.nonce).not.toBe('');
    client.ack(first);
    await client.expectQuiet(500);
  });

  it('stops sending an unsubscribed cluster, and sends a removal when a subscribed one goes away', async () => {
    const client = connect();
    client.send({ resourceNamesSubscribe: [V1, V2] });
    client.ack(await client.next('the subscribed clusters'));
    client.send({ resourceNamesUnsubscribe: [V2] });
    await client.expectQuiet(500);

    // Subset v1 leaves the DestinationRule: its cluster is gone, and the client is told so by name.
    const original = readFileSync(routingFile(), 'utf8');
    writeFileSync(
      routingFile(),
      original
        .replace('    - { name: v1, labels: { version: v1 } }\n', '')
        .replace(/subset: v1/g, 'subset: v2'),
    );
    try {
      const removal = await client.next('the removal of subset v1');
      expect(removal.removedResources).toEqual([V1]);
      expect(removal.resources).toEqual([]);
      client.ack(removal);
      await client.expectQuiet(500);
    } finally {
      writeFileSync(routingFile(), original);
    }
    // Back again: v1 returns to the subscriber that still asks for it.
    const back = await client.next('subset v1 again');
    expect(names(back)).toEqual([V1]);
    client.ack(back);
  });

  it('keeps serving a client after its NACK, and shows the NACK in syncz', async () => {
    const client = connect();
    client.send({ resourceNamesSubscribe: [V1] });
    const response = await client.next('cluster v1');
    client.send({
      responseNonce: response.nonce,
      errorDetail: { code: grpc.status.INVALID_ARGUMENT, message: 'raw client refuses this cluster' },
    });
    await waitFor(
      'the NACK in syncz',
      async () =>
        JSON.stringify(await (await fetch(`${pilotDebug}/debug/syncz`)).json()).includes(
          'raw client refuses',
        ),
      10_000,
      100,
    );
    // The stream is alive: a new subscription on it is answered.
    client.send({ resourceNamesSubscribe: [V2] });
    expect(names(await client.next('cluster v2 after the NACK'))).toContain(V2);
  });

  it('sends a reconnecting client only what changed since the versions it names', async () => {
    const first = connect();
    first.send({ resourceNamesSubscribe: [V1, V2] });
    const held = await first.next('the clusters to remember');
    first.ack(held);
    first.close();
    const versions = Object.fromEntries(held.resources.map((r) => [r.name, r.version]));

    const again = connect();
    again.send({ resourceNamesSubscribe: [V1, V2], initialResourceVersions: versions });
    await again.expectQuiet(1000);

    const stale = connect();
    stale.send({ resourceNamesSubscribe: [V1, V2], initialResourceVersions: { ...versions, [V2]: 'stale' } });
    expect(names(await stale.next('only the cluster whose version differs'))).toEqual([V2]);
  });
});
