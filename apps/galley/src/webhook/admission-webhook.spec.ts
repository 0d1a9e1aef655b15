import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { openssl, tempDir, waitFor } from '@flotilla/testing';
import { AdmissionWebhook } from './admission-webhook';
import type { AdmissionVerdict } from './admission-webhook';

/** A self-signed certificate for localhost, written as a kubernetes.io/tls Secret mounts it. */
function writeCertificate(dir: string, cn: string): string {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    join(dir, 'tls.key'),
    '-out',
    join(dir, 'tls.crt'),
  ]);
  return readFileSync(join(dir, 'tls.crt'), 'utf8');
}

/** The validator under test: a VirtualService needs spec.hosts; `spec.warn` produces a warning. */
function validate(object: Record<string, unknown>): AdmissionVerdict {
  const spec = (object.spec ?? {}) as { hosts?: string[]; warn?: boolean };
  return {
    errors: spec.hosts?.length ? [] : ['spec.hosts: at least one host is required'],
    warnings: spec.warn ? ['spec.warn: doubtful'] : [],
  };
}

function post(port: number, ca: string, body: string, contentType = 'application/json') {
  return new Promise<{ status: number; body: string; certCn: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/validate',
        method: 'POST',
        ca,
        servername: 'localhost',
        headers: { 'Content-Type': contentType },
      },
      (res) => {
        const certCn = (res.socket as TLSSocket).getPeerCertificate().subject.CN as string;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            certCn,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function review(object: unknown, operation = 'CREATE') {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' },
      operation,
      namespace: 'default',
      name: 'reviews',
      object,
    },
  });
}

describe('AdmissionWebhook over HTTPS', () => {
  let webhook: AdmissionWebhook;
  let port: number;
  let ca: string;
  let dir: string;

  beforeEach(async () => {
    dir = tempDir();
    ca = writeCertificate(dir, 'first');
    webhook = new AdmissionWebhook({ host: '127.0.0.1', port: 0, certDir: dir, validate });
    port = await webhook.start();
  });
  afterEach(() => webhook.stop());

  it('allows a valid object, echoing the request uid', async () => {
    const res = await post(port, ca, review({ spec: { hosts: ['reviews'] } }));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true },
    });
  });

  it('denies an invalid object with every error, naming kind, namespace, name and field path', async () => {
    const { response } = JSON.parse((await post(port, ca, review({ spec: { warn: true } }))).body);
    expect(response.allowed).toBe(false);
    expect(response.status).toEqual({
      code: 400,
      reason: 'Invalid',
      message:
        'admission webhook "validation.flotilla.io" denied the request: VirtualService default/reviews: spec.hosts: at least one host is required',
    });
    expect(response.warnings).toEqual(['spec.warn: doubtful']);
  });

  it('allows deletes without validating', async () => {
    const { response } = JSON.parse((await post(port, ca, review(undefined, 'DELETE'))).body);
    expect(response.allowed).toBe(true);
  });

  it('answers malformed requests with a clear 4xx and keeps serving', async () => {
    expect(await post(port, ca, '{not json')).toMatchObject({
      status: 400,
      body: expect.stringContaining('body is not JSON'),
    });
    expect(await post(port, ca, JSON.stringify({ kind: 'Pod' }))).toMatchObject({
      status: 400,
      body: expect.stringContaining('expected an admission.k8s.io/v1 AdmissionReview'),
    });
    expect((await post(port, ca, review({}), 'text/yaml')).status).toBe(415);
    expect((await post(port, ca, 'x'.repeat(7 * 1024 * 1024))).status).toBe(413);
    expect((await post(port, ca, review({ spec: { hosts: ['a'] } }))).status).toBe(200);
  });

  it('serves a rotated certificate without a restart', async () => {
    const second = writeCertificate(tempDir(), 'second');
    const rotated = tempDir();
    writeCertificate(rotated, 'second');
    writeFileSync(join(dir, 'tls.key'), readFileSync(join(rotated, 'tls.key')));
    writeFileSync(join(dir, 'tls.crt'), readFileSync(join(rotated, 'tls.crt')));
    const newCa = readFileSync(join(rotated, 'tls.crt'), 'utf8');
    expect(second).not.toBe(newCa);
    await waitFor(
      'the rotated certificate',
      async () => (await post(port, newCa, review({ spec: { hosts: ['a'] } }))).certCn === 'second',
    );
  });
});
