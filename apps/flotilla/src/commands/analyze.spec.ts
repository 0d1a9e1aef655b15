import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAnalyze } from './analyze';

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: default}
spec:
  hosts: [db.example.com]
  ports: [{number: 5432, name: tcp}]
`;
const VS_MISSING_GATEWAY = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  gateways: [nope]
  http: [{route: [{destination: {host: db.example.com}}]}]
`;

describe('flotilla analyze', () => {
  let dir: string;
  let out: string;
  let err: string;
  const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-analyze-'));
    out = '';
    err = '';
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, content: string): string => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  it('prints {"messages":[{code, level, origin, message}]} and exits 0 without errors', () => {
    const f = file('se.yaml', SE);
    expect(runAnalyze([f], 'json', io)).toBe(0);
    expect(JSON.parse(out)).toEqual({
      messages: [
        {
          code: 'IST0134',
          level: 'Warning',
          origin: 'ServiceEntry default/db',
          message: 'ServiceEntry addresses are required for this protocol.',
        },
      ],
    });
  });

  it('exits 1 when an Error-level message is reported', () => {
    const f = file('vs.yaml', SE + '---\n' + VS_MISSING_GATEWAY);
    expect(runAnalyze([f], 'json', io)).toBe(1);
    const codes = JSON.parse(out).messages.map((m: { code: string }) => m.code);
    expect(codes).toEqual(expect.arrayContaining(['IST0101', 'IST0132']));
  });

  it('reads the mesh config from --meshconfig', () => {
    const f = file('se.yaml', SE);
    const mesh = file(
      'mesh.yaml',
      'defaultConfig:\n  proxyMetadata:\n    ISTIO_META_DNS_CAPTURE: "true"\n    ISTIO_META_DNS_AUTO_ALLOCATE: "true"\n',
    );
    expect(runAnalyze([f], 'json', io, { meshConfigFile: mesh })).toBe(0);
    expect(JSON.parse(out).messages).toEqual([]);
  });

  it('reads mesh networks from --meshnetworks and reports registries that do not exist', () => {
    const networks = file(
      'meshnetworks.yaml',
      'networks:\n  net1:\n    endpoints: [{ fromRegistry: Kubernetes }, { fromRegistry: cluster-9 }]\n',
    );
    expect(runAnalyze([file('se.yaml', SE)], 'json', io, { meshNetworksFile: networks })).toBe(1);
    const messages = JSON.parse(out).messages as { code: string; message: string }[];
    expect(messages.filter((m) => m.code === 'IST0126').map((m) => m.message)).toEqual([
      'Unknown service registry cluster-9 in network net1',
    ]);
    out = '';
    expect(runAnalyze([file('se.yaml', SE)], 'json', io, { meshNetworksFile: file('bad.yaml', '[1]') })).toBe(
      2,
    );
    expect(err).toContain('bad.yaml: mesh networks must be a YAML mapping');
  });

  it('prints istioctl-like text lines', () => {
    const f = file('se.yaml', SE);
    runAnalyze([f], 'text', io);
    expect(out).toBe(
      `Warning [IST0134] (ServiceEntry default/db ${f}:6) ServiceEntry addresses are required for this protocol.\n`,
    );
  });

  it('exits 2 naming a missing input or mesh config file', () => {
    expect(runAnalyze([join(dir, 'nope.yaml')], 'json', io)).toBe(2);
    expect(err).toContain('nope.yaml: no such file or directory');
    err = '';
    const f = file('se.yaml', SE);
    expect(runAnalyze([f], 'json', io, { meshConfigFile: join(dir, 'mesh.yaml') })).toBe(2);
    expect(err).toContain('mesh.yaml');
  });
});
