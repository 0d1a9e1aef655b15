// The sample mesh's process (`flotilla up` runs it once the mesh is healthy): the five bookinfo workloads and a
// traffic loop, all in one process because grpc-js-xds keeps one xDS client per process anyway.
import { parseArgs } from 'node:util';
import type { Server } from '@grpc/grpc-js';
import { register as registerXdsResolver } from '@grpc/grpc-js-xds';
import { Clients, TrafficTally, WORKLOADS, call, startWorkload } from './bookinfo';

const USAGE =
  'usage: bookinfo --xds <host:port> [--host 127.0.0.1] [--namespace bookinfo] [--interval-ms 100] ' +
  '[--summary-seconds 5]';

function main(): void {
  const { values } = parseArgs({
    options: {
      xds: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      namespace: { type: 'string', default: 'bookinfo' },
      'interval-ms': { type: 'string', default: '100' },
      'summary-seconds': { type: 'string', default: '5' },
    },
  });
  const intervalMs = Number(values['interval-ms']);
  const summarySeconds = Number(values['summary-seconds']);
  if (!values.xds || !(intervalMs > 0) || !(summarySeconds > 0)) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  // grpc-js-xds reads its bootstrap when the first xds:/// channel resolves: pilot's plaintext ADS port, the
  // proxyless generator, and a node in the bookinfo namespace so that pilot applies that namespace's config.
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [
      { server_uri: values.xds, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
    ],
    node: {
      id: `sidecar~${values.host}~bookinfo-${process.pid}.${values.namespace}~${values.namespace}.svc.cluster.local`,
      locality: { region: 'local', zone: 'zone-a' },
      metadata: { GENERATOR: 'grpc' },
    },
  });
  registerXdsResolver();

  const clients = new Clients(values.namespace!);
  const tally = new TrafficTally();
  const servers: Server[] = [];
  const stop = () => {
    clients.close();
    for (const s of servers) s.forceShutdown();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (process.env.FLOTILLA_SUPERVISED) {
    // `flotilla up` holds stdin open as a lifeline: nothing outlives a killed supervisor.
    process.stdin.on('end', stop).on('close', stop).resume();
  }

  void Promise.all(WORKLOADS.map((w) => startWorkload(w, values.host!, clients, 2000))).then(
    (started) => {
      servers.push(...started);
      process.stdout.write(
        `bookinfo: ${WORKLOADS.map((w) => `${w.app}-${w.version} on :${w.port}`).join(', ')}; ` +
          `calling productpage every ${intervalMs} ms through pilot at ${values.xds}\n`,
      );
      const productpage = clients.get('productpage');
      setInterval(() => {
        call(productpage, 5000).then(
          (response) => tally.record(response),
          (err: Error) => tally.record(err),
        );
      }, intervalMs);
      setInterval(() => process.stdout.write(`${tally.summary(summarySeconds)}\n`), summarySeconds * 1000);
    },
    (err: Error) => {
      process.stderr.write(`bookinfo: could not start its workloads: ${err.message}\n`);
      process.exit(1);
    },
  );
}

main();
