import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
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

/** A request to a route added with `addRoute`, its body read in full. */
export interface RouteRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RouteResponse {
  status?: number;
  contentType?: string;
  headers?: Record<string, string>;
  body: string | Buffer;
}

export type RouteHandler = (request: RouteRequest) => RouteResponse | Promise<RouteResponse>;

export interface RouteOptions {
  /** Methods the route answers (default GET and HEAD); others get 405 with an Allow header. */
  methods?: string[];
  /** Also answer every path under `path` + "/" (e.g. /ca/ocsp/<base64 request>). */
  prefix?: boolean;
  /** Largest request body read (default 64 KiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** Listed in the /debug index with this description when given. */
  description?: string;
}

interface Route {
  path: string;
  handler: RouteHandler;
  methods: string[];
  prefix: boolean;
  maxBodyBytes: number;
  description?: string;
}

const RESERVED_PATHS = ['/metrics', '/ready', '/healthz', '/debug'];

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
  private readonly routes: Route[] = [];
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

  /**
   * Serves an app's own HTTP endpoint at `path` (e.g. a CRL or an OCSP responder): any methods it names, the
   * request body read in full, binary responses. Paths the server itself serves cannot be taken.
   */
  addRoute(path: string, handler: RouteHandler, options: RouteOptions = {}): this {
    if (!path.startsWith('/')) throw new Error(`route ${path} must start with /`);
    if (RESERVED_PATHS.some((r) => path === r || path.startsWith(`${r}/`))) {
      throw new Error(`route ${path} would shadow the monitoring server's own pages`);
    }
    if (this.routes.some((r) => r.path === path)) throw new Error(`route ${path} is already served`);
    this.routes.push({
      path,
      handler,
      methods: (options.methods ?? ['GET', 'HEAD']).map((m) => m.toUpperCase()),
      prefix: options.prefix ?? false,
      maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
      description: options.description,
    });
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
    const route = this.routes.find(
      (r) => url.pathname === r.path || (r.prefix && url.pathname.startsWith(`${r.path}/`)),
    );
    if (route) return this.handleRoute(route, url, req, res);
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

  private async handleRoute(
    route: Route,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    if (!route.methods.includes(method)) {
      res.setHeader('Allow', route.methods.join(', '));
      return send(res, 405, 'text/plain', 'method not allowed\n');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > route.maxBodyBytes) {
        res.setHeader('Connection', 'close');
        return send(res, 413, 'text/plain', `request body larger than ${route.maxBodyBytes} bytes\n`);
      }
      chunks.push(chunk);
    }
    const out = await route.handler({ method, url, headers: req.headers, body: Buffer.concat(chunks) });
    for (const [name, value] of Object.entries(out.headers ?? {})) res.setHeader(name, value);
    send(res, out.status ?? 200, out.contentType ?? 'application/octet-stream', out.body);
  }

  private debugIndex() {
    return {
      component: this.config.component,
      pages: [
        { path: '/metrics', description: 'Prometheus metrics' },
        { path: '/ready', description: 'readiness: 200 once serving' },
        { path: '/healthz', description: 'liveness: 200 while the process runs' },
        ...[...this.debugPages].map(([path, p]) => ({ path, description: p.description })),
        ...this.routes
          .filter((r) => r.description)
          .map((r) => ({ path: r.path, description: r.description as string })),
      ],
    };
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
