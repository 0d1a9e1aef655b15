import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pilotDebugUrl, proxyConfigCommand, proxyStatusCommand, proxyStatusTable } from './pilot-debug';
import type { DebugIO } from './pilot-debug';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

const syncz = [
  {
    id: 'client-1',
    node: {
      id: 'sidecar~127.0.0.1~client',
      userAgentName: 'gRPC Node',
      userAgentVersion: '1.14.1',
      metadata: { GENERATOR: 'grpc' },
    },
    types: [
      { typeUrl: LDS, state: 'ACKED' },
      { typeUrl: CDS, state: 'NACKED', nack: { message: 'unsupported lb_policy' } },
    ],
  },
];

function fakeIO(pages: Record<string, { status: number; body: unknown }>) {
  const out: string[] = [];
  const err: string[] = [];
  const urls: string[] = [];
  const io: DebugIO = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    fetch: async (url) => {
      urls.push(url);
      const page = pages[url] ?? { status: 404, body: { error: 'not found' } };
      return { status: page.status, text: async () => JSON.stringify(page.body) };
    },
  };
  return { io, out, err, urls };
}

describe('pilot debug commands', () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('finds pilot from --pilot, else from <state>/endpoints.json', () => {
    expect(pilotDebugUrl('http://p:1/', '/nowhere')).toBe('http://p:1');
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-pd-'));
    try {
      writeFileSync(
        join(dir, 'endpoints.json'),
        JSON.stringify({ pilot: { debug: 'http://127.0.0.1:15014' } }),
      );
      expect(pilotDebugUrl(undefined, dir)).toBe('http://127.0.0.1:15014');
      expect(() => pilotDebugUrl(undefined, join(dir, 'missing'))).toThrow(/flotilla up/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints istioctl's proxy-status words per type and the last NACKs", () => {
    const table = proxyStatusTable(syncz as never);
    const [header, row, ...rest] = table.trimEnd().split('\n');
    expect(header.split(/\s+/)).toEqual(['NAME', 'CDS', 'LDS', 'EDS', 'RDS', 'GENERATOR', 'VERSION']);
    expect(row.split(/\s{2,}/)).toEqual([
      'sidecar~127.0.0.1~client',
      'NACKED',
      'SYNCED',
      'NOT SENT',
      'NOT SENT',
      'grpc',
      'gRPC Node 1.14.1',
    ]);
    expect(rest).toEqual(['last NACKs:', '  sidecar~127.0.0.1~client CDS: unsupported lb_policy']);
  });

  it('proxy-status reads /debug/syncz', async () => {
    const { io, out, urls } = fakeIO({ 'http://p/debug/syncz': { status: 200, body: syncz } });
    await proxyStatusCommand(io).parseAsync(['node', 'proxy-status', '--pilot', 'http://p']);
    expect(urls).toEqual(['http://p/debug/syncz']);
    expect(out.join('')).toContain('SYNCED');
  });

  it('proxy-config reads /debug/config_dump for the proxy and picks one part with --type', async () => {
    const dump = {
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', dynamicActiveClusters: [] },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
          dynamicListeners: [{ name: 'a:1' }],
        },
      ],
    };
    const url = 'http://p/debug/config_dump?proxyID=sidecar~1';
    const { io, out } = fakeIO({ [url]: { status: 200, body: dump } });
    await proxyConfigCommand(io).parseAsync([
      'node',
      'proxy-config',
      '--pilot',
      'http://p',
      '--proxy',
      'sidecar~1',
      '--type',
      'listeners',
    ]);
    expect(JSON.parse(out.join(''))).toEqual(dump.configs[1]);
  });

  it('reports pilot errors (an unknown proxy) and exits 1', async () => {
    const { io, err } = fakeIO({});
    await proxyConfigCommand(io).parseAsync(['node', 'proxy-config', '--pilot', 'http://p', '--proxy', 'x']);
    expect(err.join('')).toContain('HTTP 404: not found');
    expect(process.exitCode).toBe(1);
  });
});
