// `flotilla proxy-status` and `flotilla proxy-config`: istioctl's two views of what pilot pushed, read from pilot's
// debug pages (/debug/syncz and /debug/config_dump) on its monitoring port.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';

export interface DebugIO {
  out(text: string): void;
  err(text: string): void;
  fetch(url: string): Promise<{ status: number; text(): Promise<string> }>;
}

const defaultIO: DebugIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  fetch: (url) => fetch(url),
};

/** Pilot's debug base URL: --pilot, else pilot.debug of <state>/endpoints.json (what `flotilla up` wrote). */
export function pilotDebugUrl(pilot: string | undefined, stateDir: string): string {
  if (pilot) return pilot.replace(/\/+$/, '');
  const file = join(resolve(stateDir), 'endpoints.json');
  if (!existsSync(file)) {
    throw new Error(`no --pilot given and no ${file} (is \`flotilla up\` running with this --state?)`);
  }
  const endpoints = JSON.parse(readFileSync(file, 'utf8')) as { pilot?: { debug?: string } };
  if (!endpoints.pilot?.debug) throw new Error(`${file} has no pilot.debug URL`);
  return endpoints.pilot.debug.replace(/\/+$/, '');
}

async function getJson(io: DebugIO, url: string): Promise<unknown> {
  const res = await io.fetch(url);
  const body = await res.text();
  if (res.status !== 200) {
    let message = body.trim();
    try {
      message = (JSON.parse(body) as { error?: string }).error ?? message;
    } catch {
      // not JSON: the text itself
    }
    throw new Error(`${url}: HTTP ${res.status}: ${message}`);
  }
  return JSON.parse(body);
}

interface SyncType {
  typeUrl: string;
  state: 'NOT_SENT' | 'SENT' | 'ACKED' | 'NACKED';
  nack?: { message: string };
}
interface SyncConnection {
  id: string;
  node: { id: string; userAgentName: string; userAgentVersion: string; metadata: Record<string, unknown> };
  types: SyncType[];
}

const SHORT: Record<string, string> = {
  'type.googleapis.com/envoy.config.cluster.v3.Cluster': 'CDS',
  'type.googleapis.com/envoy.config.listener.v3.Listener': 'LDS',
  'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment': 'EDS',
  'type.googleapis.com/envoy.config.route.v3.RouteConfiguration': 'RDS',
};

/** istioctl's words: SYNCED (ACKed), STALE (sent, not answered), NACKED, NOT SENT. */
function word(t: SyncType | undefined): string {
  if (!t) return 'NOT SENT';
  return { NOT_SENT: 'NOT SENT', SENT: 'STALE', ACKED: 'SYNCED', NACKED: 'NACKED' }[t.state];
}

/** The proxy-status table: one row per connection, a column per xDS type. */
export function proxyStatusTable(connections: SyncConnection[]): string {
  const header = ['NAME', 'CDS', 'LDS', 'EDS', 'RDS', 'GENERATOR', 'VERSION'];
  const rows = connections.map((c) => {
    const byShort = new Map(c.types.map((t) => [SHORT[t.typeUrl], t]));
    return [
      c.node.id,
      ...['CDS', 'LDS', 'EDS', 'RDS'].map((s) => word(byShort.get(s))),
      String(c.node.metadata?.['GENERATOR'] ?? '') || '-',
      `${c.node.userAgentName} ${c.node.userAgentVersion}`.trim() || '-',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const nacks = connections.flatMap((c) =>
    c.types
      .filter((t) => t.nack)
      .map((t) => `  ${c.node.id} ${SHORT[t.typeUrl] ?? t.typeUrl}: ${t.nack!.message}`),
  );
  return (
    [line(header), ...rows.map(line), ...(nacks.length ? ['last NACKs:', ...nacks] : [])].join('\n') + '\n'
  );
}

const TYPES = {
  clusters: 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
  listeners: 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
  routes: 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
  endpoints: 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
} as const;

function common(command: Command): Command {
  return command
    .option('--pilot <url>', "pilot's debug URL (default: pilot.debug of <state>/endpoints.json)")
    .option('--state <dir>', 'state folder of `flotilla up`', '.flotilla');
}

async function run(io: DebugIO, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    io.err(`flotilla: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

export function proxyStatusCommand(io: DebugIO = defaultIO): Command {
  return common(new Command('proxy-status'))
    .description("each connected proxy's xDS sync state (pilot's /debug/syncz)")
    .option('-o, --output <format>', 'table or json', 'table')
    .action((opts: { pilot?: string; state: string; output: string }) =>
      run(io, async () => {
        const base = pilotDebugUrl(opts.pilot, opts.state);
        const connections = (await getJson(io, `${base}/debug/syncz`)) as SyncConnection[];
        io.out(
          opts.output === 'json'
            ? `${JSON.stringify(connections, null, 2)}\n`
            : proxyStatusTable(connections),
        );
      }),
    );
}

export function proxyConfigCommand(io: DebugIO = defaultIO): Command {
  return common(new Command('proxy-config'))
    .description("what pilot would send a proxy now, as an Envoy config dump (pilot's /debug/config_dump)")
    .requiredOption('--proxy <id>', 'node id (or connection id) of the proxy')
    .addOption(new Option('--type <type>', 'only one part of the dump').choices(Object.keys(TYPES)))
    .action((opts: { pilot?: string; state: string; proxy: string; type?: keyof typeof TYPES }) =>
      run(io, async () => {
        const base = pilotDebugUrl(opts.pilot, opts.state);
        const dump = (await getJson(
          io,
          `${base}/debug/config_dump?proxyID=${encodeURIComponent(opts.proxy)}`,
        )) as { configs: { '@type': string }[] };
        const out = opts.type ? (dump.configs.find((c) => c['@type'] === TYPES[opts.type!]) ?? {}) : dump;
        io.out(`${JSON.stringify(out, null, 2)}\n`);
      }),
    );
}
