import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { PortInUseError, isAddressInUse } from './errors';
import type { Logger } from './logging';

export interface DebugResponse {
  status?: number;
  contentType?: string;
  body: string;
}

/** Serves one /debug/* page; `url` carries the query (e.g. /debug/config_dump?proxyID=…). */
export type DebugHandler = (url: URL, request: IncomingMessage) => DebugResponse | Promise<DebugResponse>;

export interface MonitoringServerConfig {
  component: string;
  host: string;
  port: number;
  portOption: string;
  registry: Registry;
  logger: Logger;
}

interface DebugPage {
  description: string;
  handler: DebugHandler;
}

/**
 * The monitoring HTTP server every app has: /metrics (Prometheus text), /ready (200 once serving, 503 before
 * and while shutting down), /healthz (200 while the process is alive) and /debug, an index of the app's debug
 * pages. A failing debug page answers 500 with its error; it never takes the server down.
 */
export class MonitoringServer {
  private readonly server: Server;
  private readonly debugPages = new Map<string, DebugPage>();
  private ready = false;
  private port: number | undefined;

  constructor(private readonly config: MonitoringServerConfig) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        config.logger.error({ err, url: req.url }, 'monitoring request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', `internal error: ${(err as Error).message}\n`);
        else res.destroy();
      });
    });
  }

  /** Adds a page at `path` (which must start with /debug/), listed in the /debug index. */
  addDebugPage(path: string, description: string, handler: DebugHandler): this {
    if (!path.startsWith('/debug/')) throw new Error(`debug page ${path} must be under /debug/`);
    this.debugPages.set(path, { description, handler });
    return this;
  }

  setReady(ready: boolean): void {
    this.ready = ready;
  }

  get boundPort(): number {
    if (this.port === undefined) throw new Error('monitoring server is not started');
    return this.port;
  }

  async start(): Promise<number> {
    const { host, port, portOption, logger } = this.config;
    this.port = await new Promise<number>((resolve, reject) => {
      const onError = (err: Error) =>
        reject(isAddressInUse(err) ? new PortInUseError(host, port, portOption, err) : err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
    logger.info({ address: `${host}:${this.port}` }, 'monitoring server listening');
    return this.port;
  }

  async stop(): Promise<void> {
    if (this.port === undefined) return;
    this.ready = false;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.port = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain', 'method not allowed\n');
    }
    switch (url.pathname) {
      case '/metrics':
        return send(res, 200, this.config.registry.contentType, await this.config.registry.metrics());
      case '/ready':
        return this.ready
          ? send(res, 200, 'text/plain', 'ready\n')
          : send(res, 503, 'text/plain', 'not ready\n');
      case '/healthz':
        return send(res, 200, 'text/plain', 'ok\n');
      case '/debug':
      case '/debug/':
        return send(res, 200, 'application/json', JSON.stringify(this.debugIndex(), null, 2) + '\n');
    }
    const page = this.debugPages.get(url.pathname);
    if (!page) return send(res, 404, 'text/plain', `no page at ${url.pathname}; see /debug for the list\n`);
    const out = await page.handler(url, req);
    send(res, out.status ?? 200, out.contentType ?? 'application/json', out.body);
  }

  private debugIndex() {
    return {
      component: this.config.component,
      pages: [
        { path: '/metrics', description: 'Prometheus metrics' },
        { path: '/ready', description: 'readiness: 200 once serving' },
        { path: '/healthz', description: 'liveness: 200 while the process runs' },
        ...[...this.debugPages].map(([path, p]) => ({ path, description: p.description })),
      ],
    };
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
