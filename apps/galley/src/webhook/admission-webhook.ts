import { readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** What the validator says of one object: errors deny it; warnings are returned to kubectl and allow it. */
export interface AdmissionVerdict {
  errors: string[];
  warnings: string[];
}

export type AdmissionValidator = (object: Record<string, unknown>) => AdmissionVerdict;

export interface AdmissionWebhookOptions {
  host: string;
  port: number;
  /**
   * Folder holding tls.crt and tls.key, as a kubernetes.io/tls Secret mounts them. The files are re-read when
   * they change, so a rotated certificate is served without a restart.
   */
  certDir: string;
  validate: AdmissionValidator;
  onError?: (err: Error) => void;
}

interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  name?: string;
  object?: Record<string, unknown>;
}

/** The API server never sends more than about 3 MiB; anything far larger is refused before it is read. */
const MAX_BODY_BYTES = 6 * 1024 * 1024;

/**
 * Galley's validating admission webhook (admission.k8s.io/v1 AdmissionReview over HTTPS at /validate): the API
 * server asks before storing an Istio resource, and an invalid one is denied with every error and its field path.
 */
export class AdmissionWebhook {
  private server: Server | undefined;
  private watcher: FSWatcher | undefined;

  constructor(private readonly options: AdmissionWebhookOptions) {}

  async start(): Promise<number> {
    this.server = createServer(this.readCertificate(), (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.options.onError?.(err as Error);
        if (!res.headersSent) sendText(res, 500, `internal error: ${(err as Error).message}`);
      });
    });
    this.watcher = watch(this.options.certDir, () => {
      try {
        this.server?.setSecureContext(this.readCertificate());
      } catch (err) {
        // A half-written pair during rotation: keep serving the previous one; the next event retries.
        this.options.onError?.(err as Error);
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, this.options.host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private readCertificate(): { cert: Buffer; key: Buffer } {
    return {
      cert: readFileSync(join(this.options.certDir, 'tls.crt')),
      key: readFileSync(join(this.options.certDir, 'tls.key')),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://webhook').pathname;
    if (path === '/ready') return sendText(res, 200, 'ready');
    if (path !== '/validate')
      return sendText(res, 404, `no handler at ${path}; the webhook path is /validate`);
    if (req.method !== 'POST') return sendText(res, 405, 'POST an AdmissionReview to /validate');
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('application/json')) {
      return sendText(res, 415, `expected Content-Type application/json, got ${JSON.stringify(contentType)}`);
    }
    const body = await readBody(req);
    if (body === undefined) return sendText(res, 413, `request body over ${MAX_BODY_BYTES} bytes`);
    let review: { apiVersion?: string; kind?: string; request?: AdmissionRequest };
    try {
      review = JSON.parse(body);
    } catch (err) {
      return sendText(res, 400, `body is not JSON: ${(err as Error).message}`);
    }
    if (
      review.kind !== 'AdmissionReview' ||
      review.apiVersion !== 'admission.k8s.io/v1' ||
      !review.request?.uid
    ) {
      return sendText(res, 400, 'expected an admission.k8s.io/v1 AdmissionReview with request.uid');
    }
    const response = this.review(review.request);
    const text = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private review(request: AdmissionRequest) {
    const { uid, operation, object } = request;
    // Deletes carry no new object; there is nothing to validate.
    if (operation === 'DELETE' || object === undefined) return { uid, allowed: true };
    let verdict: AdmissionVerdict;
    try {
      verdict = this.options.validate(object);
    } catch (err) {
      verdict = { errors: [`validation failed: ${(err as Error).message}`], warnings: [] };
    }
    const kind = request.kind?.kind ?? 'object';
    const name = `${request.namespace ? request.namespace + '/' : ''}${request.name ?? ''}`;
    const warnings = verdict.warnings.length > 0 ? verdict.warnings : undefined;
    if (verdict.errors.length === 0) return { uid, allowed: true, warnings };
    return {
      uid,
      allowed: false,
      warnings,
      status: {
        code: 400,
        reason: 'Invalid',
        message: `admission webhook "validation.flotilla.io" denied the request: ${kind} ${name}: ${verdict.errors.join('; ')}`,
      },
    };
  }
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // An oversized body is drained without being kept, so the refusal can still be answered on the connection.
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text + '\n') });
  res.end(text + '\n');
}
