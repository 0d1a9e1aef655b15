// Test-only: raw ADS clients over the generated grpc-js client, recording everything the server sends.
import { credentials } from '@grpc/grpc-js';
import type { ClientDuplexStream, StatusObject } from '@grpc/grpc-js';
import { ads, core, discovery } from '@flotilla/proto';

/** A queue of messages from a stream that tests take one at a time, with a timeout. */
class Inbox<T> {
  private readonly items: T[] = [];
  private waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(timeoutMs: number, what: string): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise<T>((resolve, reject) => {
      const waiter = (it: T) => {
        clearTimeout(timer);
        resolve(it);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  get size(): number {
    return this.items.length;
  }
}

export const TEST_NODE = core.Node.fromPartial({
  id: 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local',
  cluster: 'app',
  locality: { region: 'r1', zone: 'z1', subZone: 's1' },
  metadata: { ISTIO_VERSION: '1.0-test' },
});

abstract class TestStream<Req, Res> {
  protected readonly inbox = new Inbox<Res>();
  readonly status: Promise<StatusObject>;
  readonly all: Res[] = [];

  protected constructor(
    protected readonly client: InstanceType<typeof ads.AggregatedDiscoveryServiceClient>,
    protected readonly stream: ClientDuplexStream<Req, Res>,
  ) {
    stream.on('data', (res: Res) => {
      this.all.push(res);
      this.inbox.push(res);
    });
    this.status = new Promise((resolve) => stream.on('status', resolve));
    // Errors end the stream; tests read them from `status`.
    stream.on('error', () => undefined);
  }

  next(timeoutMs = 5000): Promise<Res> {
    return this.inbox.next(timeoutMs, 'an xDS response');
  }

  /** Resolves if nothing arrives for `ms` (and fails if something does). */
  async expectQuiet(ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.inbox.size > 0) throw new Error(`expected no response, got ${this.inbox.size}`);
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

export class SotwTestClient extends TestStream<discovery.DiscoveryRequest, discovery.DiscoveryResponse> {
  constructor(address: string) {
    const client = new ads.AggregatedDiscoveryServiceClient(address, credentials.createInsecure());
    super(client, client.streamAggregatedResources());
  }

  send(request: Parameters<typeof discovery.DiscoveryRequest.fromPartial>[0]): void {
    this.stream.write(discovery.DiscoveryRequest.fromPartial(request));
  }

  /** ACKs a response (version and nonce echoed, same names). */
  ack(response: discovery.DiscoveryResponse, resourceNames: string[] = []): void {
    this.send({
      typeUrl: response.typeUrl,
      versionInfo: response.versionInfo,
      responseNonce: response.nonce,
      resourceNames,
    });
  }
}

export class DeltaTestClient extends TestStream<
  discovery.DeltaDiscoveryRequest,
  discovery.DeltaDiscoveryResponse
> {
  constructor(address: string) {
    const client = new ads.AggregatedDiscoveryServiceClient(address, credentials.createInsecure());
    super(client, client.deltaAggregatedResources());
  }

  send(request: Parameters<typeof discovery.DeltaDiscoveryRequest.fromPartial>[0]): void {
    this.stream.write(discovery.DeltaDiscoveryRequest.fromPartial(request));
  }

  ack(response: discovery.DeltaDiscoveryResponse): void {
    this.send({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }
}
