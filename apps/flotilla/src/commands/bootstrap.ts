// `flotilla bootstrap`: the Envoy bootstrap of a sidecar (or gateway), checked before it is written: it must read
// back as envoy.config.bootstrap.v3.Bootstrap and keep every protoc-gen-validate rule of Envoy's protos.
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { envoyRuleChecker } from '@flotilla/envoy-verify';
import { bootstrap, typeUrlOf } from '@flotilla/proto';
import { binaryFromJson } from '../bootstrap/proto-json';
import {
  BOOTSTRAP_TYPE,
  BootstrapError,
  DEFAULT_ADMIN_PORT,
  DEFAULT_PILOT_ADDRESS,
  DEFAULT_PROMETHEUS_PORT,
  DEFAULT_SDS_SOCKET,
  bootstrapJson,
  buildBootstrap,
} from '../bootstrap/envoy-bootstrap';
import type { BootstrapOptions, XdsTransport } from '../bootstrap/envoy-bootstrap';

interface CommandOptions {
  proxy: string;
  pilot: string;
  sdsSocket: string;
  plaintext?: boolean;
  xdsCert?: string;
  xdsKey?: string;
  xdsCa?: string;
  pilotIdentity?: string;
  label: Record<string, string>;
  adminPort: number;
  prometheusPort: number;
  istioVersion: string;
  serviceCluster?: string;
  output?: string;
}

/**
 * Every rule the bootstrap breaks, after a round trip through its JSON form (what Envoy will parse); empty when
 * Envoy would accept it as far as its protos say.
 */
export function checkBootstrap(json: string): string[] {
  let bytes: Uint8Array;
  try {
    bytes = binaryFromJson(BOOTSTRAP_TYPE, JSON.parse(json));
  } catch (err) {
    return [`does not decode as ${BOOTSTRAP_TYPE}: ${(err as Error).message}`];
  }
  return envoyRuleChecker()
    .checkBytes(typeUrlOf(bootstrap.Bootstrap), bytes, 'bootstrap')
    .map((v) => `${v.path}: ${v.message}`);
}

function xdsTransportOf(opts: CommandOptions): XdsTransport {
  const files = [opts.xdsCert, opts.xdsKey, opts.xdsCa];
  if (opts.plaintext) {
    if (files.some(Boolean))
      throw new BootstrapError('--plaintext cannot be combined with --xds-cert/--xds-key/--xds-ca');
    return { kind: 'plaintext' };
  }
  if (files.every((f) => f === undefined)) return { kind: 'sds' };
  if (!files.every(Boolean)) throw new BootstrapError('--xds-cert, --xds-key and --xds-ca go together');
  return { kind: 'files', certFile: opts.xdsCert!, keyFile: opts.xdsKey!, caFile: opts.xdsCa! };
}

/** The options object of the builder from the command line's. */
export function bootstrapOptionsOf(opts: CommandOptions): BootstrapOptions {
  return {
    proxyId: opts.proxy,
    pilot: opts.pilot,
    sdsSocket: opts.sdsSocket,
    xdsTransport: xdsTransportOf(opts),
    labels: opts.label,
    adminPort: opts.adminPort,
    prometheusPort: opts.prometheusPort,
    istioVersion: opts.istioVersion,
    pilotIdentity: opts.pilotIdentity,
    serviceCluster: opts.serviceCluster,
  };
}

function portNumber(allowZero: boolean) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > 65535 || (n === 0 && !allowZero))
      throw new InvalidArgumentError(`${JSON.stringify(v)} is not a port${allowZero ? ' (or 0)' : ''}`);
    return n;
  };
}

function collectLabel(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`${JSON.stringify(value)} is not key=value`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export function bootstrapCommand(version: string): Command {
  return new Command('bootstrap')
    .description(
      "print an Envoy bootstrap for a sidecar: ADS (LDS, CDS) from pilot over xds-grpc, SDS from the mesh agent's " +
        "Unix socket over sds-grpc; checked against the protoc-gen-validate rules of Envoy's protos",
    )
    .requiredOption('--proxy <id>', 'node id: sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local')
    .option(
      '--pilot <host:port>',
      "pilot's xDS address (15012 mTLS, 15010 with --plaintext)",
      DEFAULT_PILOT_ADDRESS,
    )
    .option('--sds-socket <path>', "the mesh agent's SDS Unix socket", DEFAULT_SDS_SOCKET)
    .option('--plaintext', "talk to pilot without TLS (pilot's 15010)")
    .option('--xds-cert <file>', 'client certificate (PEM) for pilot, instead of SDS "default"')
    .option('--xds-key <file>', 'its private key (PEM)')
    .option('--xds-ca <file>', 'root certificates (PEM) pilot is checked against, instead of SDS "ROOTCA"')
    .option('--pilot-identity <spiffe-id>', "SPIFFE id pilot's certificate must carry")
    .option('--label <key=value>', 'a workload label (repeatable): node metadata LABELS', collectLabel, {})
    .addOption(
      new Option('--admin-port <port>', "Envoy's admin port (localhost)")
        .default(DEFAULT_ADMIN_PORT)
        .argParser(portNumber(false)),
    )
    .addOption(
      new Option('--prometheus-port <port>', 'port serving /stats/prometheus on all addresses (0: none)')
        .default(DEFAULT_PROMETHEUS_PORT)
        .argParser(portNumber(true)),
    )
    .option('--istio-version <version>', 'node metadata ISTIO_VERSION', version)
    .option('--service-cluster <name>', 'node cluster (default <app label>.<namespace>)')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action((opts: CommandOptions) => {
      let json: string;
      try {
        json = bootstrapJson(buildBootstrap(bootstrapOptionsOf(opts)));
      } catch (err) {
        if (!(err instanceof BootstrapError)) throw err;
        process.stderr.write(`flotilla bootstrap: ${err.message}\n`);
        process.exitCode = 2;
        return;
      }
      const problems = checkBootstrap(json);
      if (problems.length > 0) {
        process.stderr.write(
          `flotilla bootstrap: Envoy would reject the bootstrap:\n  ${problems.join('\n  ')}\n`,
        );
        process.exitCode = 1;
        return;
      }
      if (opts.output) writeFileSync(opts.output, json);
      else process.stdout.write(json);
    });
}
