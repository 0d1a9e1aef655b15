import { execFileSync } from 'node:child_process';
import { createLogger } from './logging';
import { createMetricsRegistry } from './metrics';
import { MonitoringServer } from './monitoring-server';

const logger = createLogger('test', 'silent');

describe('MonitoringServer', () => {
  let server: MonitoringServer;
  let base: string;
  beforeEach(async () => {
    server = new MonitoringServer({
      component: 'test',
      host: '127.0.0.1',
      port: 0,
      portOption: '--monitoring-port',
      registry: createMetricsRegistry('test', '1.2.3'),
      logger,
    });
    server.addDebugPage('/debug/echo', 'echoes the query', (url) => ({
      body: JSON.stringify({ q: url.searchParams.get('q') }),
    }));
    server.addDebugPage('/debug/broken', 'always fails', () => {
      throw new Error('broken page');
    });
    await server.start();
    base = `http://127.0.0.1:${server.boundPort}`;
  });
  afterEach(() => server.stop());

  it('is not ready until told, and not ready again once stopping', async () => {
    expect((await fetch(`${base}/ready`)).status).toBe(503);
    server.setReady(true);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    server.setReady(false);
    expect((await fetch(`${base}/ready`)).status).toBe(503);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('serves Prometheus text that promtool accepts, with the build info', async () => {
    const res = await fetch(`${base}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    expect(text).toContain('flotilla_build_info{component="test",version="1.2.3"} 1');
    // promtool exits non-zero on any problem in the exposition (names, types, help, duplicates).
    execFileSync('promtool', ['check', 'metrics'], { input: text });
  });

  it('lists its pages at /debug and serves them; a failing page answers 500 and the server lives on', async () => {
    const index = (await (await fetch(`${base}/debug`)).json()) as { pages: { path: string }[] };
    expect(index.pages.map((p) => p.path)).toEqual([
      '/metrics',
      '/ready',
      '/healthz',
      '/debug/echo',
      '/debug/broken',
    ]);
    expect(await (await fetch(`${base}/debug/echo?q=hi`)).json()).toEqual({ q: 'hi' });
    const broken = await fetch(`${base}/debug/broken`);
    expect(broken.status).toBe(500);
    expect(await broken.text()).toContain('broken page');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
  });

  it('serves added routes with their methods, request bodies and binary responses, answering 405 and 413', async () => {
    server.addRoute(
      '/ca/echo',
      (req) => ({
        contentType: 'application/x-test',
        headers: { 'Cache-Control': 'max-age=5' },
        body: Buffer.concat([
          Buffer.from([0xff, 0x00]),
          Buffer.from(`${req.method} ${req.url.pathname}|`),
          req.body,
        ]),
      }),
      { methods: ['GET', 'POST'], prefix: true, maxBodyBytes: 16, description: 'echoes' },
    );
    const posted = await fetch(`${base}/ca/echo`, { method: 'POST', body: 'abc' });
    expect(posted.status).toBe(200);
    expect(posted.headers.get('content-type')).toBe('application/x-test');
    expect(posted.headers.get('cache-control')).toBe('max-age=5');
    expect(Buffer.from(await posted.arrayBuffer())).toEqual(
      Buffer.from('\xff\x00POST /ca/echo|abc', 'latin1'),
    );
    const under = await fetch(`${base}/ca/echo/x%2By`);
    expect(
      Buffer.from(await under.arrayBuffer())
        .subarray(2)
        .toString(),
    ).toBe('GET /ca/echo/x%2By|');
    const put = await fetch(`${base}/ca/echo`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST');
    expect((await fetch(`${base}/ca/echo`, { method: 'POST', body: 'x'.repeat(17) })).status).toBe(413);
    // Not a prefix route elsewhere, and the built-in pages are unchanged.
    expect((await fetch(`${base}/ca/echoes`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    const index = (await (await fetch(`${base}/debug`)).json()) as { pages: { path: string }[] };
    expect(index.pages.map((p) => p.path)).toContain('/ca/echo');
  });

  it('refuses routes that would shadow its own pages', () => {
    expect(() => server.addRoute('/metrics', () => ({ body: '' }))).toThrow(/shadow/);
    expect(() => server.addRoute('/debug/x', () => ({ body: '' }))).toThrow(/shadow/);
    expect(() => server.addRoute('relative', () => ({ body: '' }))).toThrow(/must start with/);
  });
});
