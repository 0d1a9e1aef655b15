import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { sendJson } from './http-json';
import { openssl, opensslKey, tempDir, writeTemp } from './openssl';

export interface VaultDoubleOptions {
  /** Where the PKI secrets engine is mounted (default "pki"). */
  mount?: string;
  /** PKI roles that may sign leaves; each allows URI SANs starting with its prefix (default spiffe://). */
  roles?: Record<string, { allowedUriPrefix?: string }>;
  /** Kubernetes auth method: its mount (default "kubernetes"), the role name, and the one JWT it accepts. */
  kubernetes?: { mount?: string; role: string; jwt: string };
}

export interface VaultDoubleRequest {
  method: string;
  path: string;
  token: string | undefined;
  body: Record<string, unknown> | undefined;
}

const DAY_S = 86400;

/**
 * A TEST DOUBLE of HashiCorp Vault's HTTP API — not Vault — for exactly the endpoints citadel's Vault key custody
 * uses, speaking Vault's documented JSON shapes:
 *
 * - POST /v1/auth/<k8s mount>/login {role, jwt} → {auth: {client_token, …}}; a wrong role → 400, a JWT other than
 *   the configured one → 403 {errors: ["permission denied"]};
 * - POST /v1/<mount>/sign/<role> {csr, uri_sans, ttl, format} and POST /v1/<mount>/root/sign-intermediate
 *   {csr, common_name, ttl, format} → {data: {certificate, issuing_ca, ca_chain, serial_number, expiration}};
 *   X-Vault-Token is checked (403 {errors: ["permission denied"]}), the role must exist (400 "unknown role: …");
 * - GET /v1/<mount>/ca_chain (bare PEM, unauthenticated) and GET /v1/<mount>/cert/ca_chain ({data: {certificate,
 *   ca_chain}}).
 *
 * It signs with a real CA it creates with openssl: a root and an issuing intermediate (the mount's issuer), so
 * ca_chain is [issuing CA, root]. Lifetimes are rounded up to whole days (openssl 3.0's x509 has no -not_after).
 * Anything else answers 404 {errors: […]}; `sealed` makes every request answer 503 as a sealed Vault does.
 */
export class VaultDouble {
  /** Every request received, in order. */
  readonly requests: VaultDoubleRequest[] = [];
  /** The root token: always accepted. */
  readonly rootToken = `hvs.${randomBytes(18).toString('base64url')}`;
  /** Answer every request with 503 {errors: ["Vault is sealed"]}. */
  sealed = false;
  readonly mount: string;
  private readonly tokens = new Set<string>();
  private readonly roles: Record<string, { allowedUriPrefix?: string }>;
  private readonly kubernetes: { mount: string; role: string; jwt: string } | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly dir: string,
    readonly rootPem: string,
    readonly issuingPem: string,
    options: VaultDoubleOptions,
  ) {
    this.mount = options.mount ?? 'pki';
    this.roles = options.roles ?? { citadel: {} };
    this.kubernetes = options.kubernetes && { mount: 'kubernetes', ...options.kubernetes };
    this.tokens.add(this.rootToken);
  }

  static async start(options: VaultDoubleOptions = {}): Promise<VaultDouble> {
    const dir = tempDir('flotilla-vault-double-');
    const rootKey = join(dir, 'root.key');
    const issuingKey = join(dir, 'issuing.key');
    opensslKey(dir, 'root');
    opensslKey(dir, 'issuing');
    const caExt = writeTemp(
      dir,
      'ca.ext',
      [
        'basicConstraints=critical,CA:TRUE',
        'keyUsage=critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
        '',
      ].join('\n'),
    );
    const rootExt = writeTemp(
      dir,
      'root.ext',
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n',
    );
    openssl([
      'req',
      '-new',
      '-key',
      rootKey,
      '-subj',
      '/O=Vault Double/CN=Vault Double Root CA',
      '-out',
      join(dir, 'root.csr'),
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      join(dir, 'root.csr'),
      '-signkey',
      rootKey,
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      '3650',
      '-extfile',
      rootExt,
      '-out',
      join(dir, 'root.crt'),
    ]);
    openssl([
      'req',
      '-new',
      '-key',
      issuingKey,
      '-subj',
      '/O=Vault Double/CN=Vault Double Issuing CA',
      '-out',
      join(dir, 'issuing.csr'),
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      join(dir, 'issuing.csr'),
      '-CA',
      join(dir, 'root.crt'),
      '-CAkey',
      rootKey,
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      '3000',
      '-extfile',
      caExt,
      '-out',
      join(dir, 'issuing.crt'),
    ]);
    const holder: { double?: VaultDouble } = {};
    const server = createServer((req, res) => holder.double!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.double = new VaultDouble(
      server,
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      dir,
      readFileSync(join(dir, 'root.crt'), 'utf8').trim(),
      readFileSync(join(dir, 'issuing.crt'), 'utf8').trim(),
      options,
    );
    return holder.double;
  }

  /** A new token accepted by the PKI endpoints (as `vault token create` would make). */
  createToken(): string {
    const token = `hvs.${randomBytes(18).toString('base64url')}`;
    this.tokens.add(token);
    return token;
  }

  /** Revokes a token: later requests with it get 403. */
  revokeToken(token: string): void {
    this.tokens.delete(token);
  }

  /** Revokes every token but the root token (as if their leases ran out). */
  expireTokens(): void {
    this.tokens.clear();
    this.tokens.add(this.rootToken);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://vault').pathname;
      const token = req.headers['x-vault-token'] as string | undefined;
      let body: Record<string, unknown> | undefined;
      if (chunks.length > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return sendJson(res, 400, { errors: ['failed to parse JSON input'] });
        }
      }
      this.requests.push({ method: req.method ?? '', path, token, body });
      if (this.sealed) return sendJson(res, 503, { errors: ['Vault is sealed'] });
      try {
        this.route(req.method ?? '', path, token, body ?? {}, res);
      } catch (err) {
        sendJson(res, 500, { errors: [`1 error occurred:\n\t* ${(err as Error).message}\n\n`] });
      }
    });
  }

  private route(
    method: string,
    path: string,
    token: string | undefined,
    body: Record<string, unknown>,
    res: ServerResponse,
  ): void {
    const mount = `/v1/${this.mount}`;
    if (this.kubernetes && method === 'POST' && path === `/v1/auth/${this.kubernetes.mount}/login`) {
      return this.login(body, res);
    }
    if (method === 'GET' && path === `${mount}/ca_chain`) {
      res.writeHead(200, { 'Content-Type': 'application/pem-certificate-chain' });
      res.end(`${this.issuingPem}\n${this.rootPem}\n`);
      return;
    }
    if (method === 'GET' && path === `${mount}/cert/ca_chain`) {
      return sendJson(res, 200, {
        data: {
          certificate: `${this.issuingPem}\n${this.rootPem}\n`,
          ca_chain: [this.issuingPem, this.rootPem],
        },
      });
    }
    const signMatch = path.startsWith(`${mount}/sign/`) ? path.slice(`${mount}/sign/`.length) : undefined;
    const isIntermediate = path === `${mount}/root/sign-intermediate`;
    if ((signMatch === undefined && !isIntermediate) || (method !== 'POST' && method !== 'PUT')) {
      return sendJson(res, 404, { errors: [`no handler for route "${path.replace(/^\/v1\//, '')}"`] });
    }
    if (!token || !this.tokens.has(token)) return sendJson(res, 403, { errors: ['permission denied'] });
    if (typeof body.csr !== 'string' || !body.csr.includes('CERTIFICATE REQUEST')) {
      return sendJson(res, 400, { errors: ['certificate request could not be parsed'] });
    }
    if (body.format !== undefined && body.format !== 'pem') {
      return sendJson(res, 400, {
        errors: [`the test double only serves format "pem", not "${body.format}"`],
      });
    }
    const ttlSeconds = parseTtl(body.ttl);
    if (ttlSeconds === undefined) return sendJson(res, 400, { errors: [`invalid ttl ${String(body.ttl)}`] });
    let extensions: string[];
    if (signMatch !== undefined) {
      const role = this.roles[signMatch];
      if (!role) return sendJson(res, 400, { errors: [`unknown role: ${signMatch}`] });
      const uris = typeof body.uri_sans === 'string' ? body.uri_sans.split(',').map((u) => u.trim()) : [];
      const prefix = role.allowedUriPrefix ?? 'spiffe://';
      const refused = uris.find((u) => !u.startsWith(prefix));
      if (refused !== undefined) {
        return sendJson(res, 400, {
          errors: [`URI Subject Alternative Names were not allowed by this role: ${refused}`],
        });
      }
      extensions = [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
      ];
      if (uris.length > 0)
        extensions.push(`subjectAltName=critical,${uris.map((u) => `URI:${u}`).join(',')}`);
    } else {
      extensions = [
        'basicConstraints=critical,CA:TRUE,pathlen:0',
        'keyUsage=critical,digitalSignature,keyCertSign,cRLSign',
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
      ];
    }
    sendJson(res, 200, { data: this.sign(body.csr, extensions, ttlSeconds) });
  }

  private login(body: Record<string, unknown>, res: ServerResponse): void {
    const k8s = this.kubernetes!;
    if (typeof body.role !== 'string' || body.role === '') {
      return sendJson(res, 400, { errors: ['missing role'] });
    }
    if (body.role !== k8s.role) return sendJson(res, 400, { errors: [`invalid role name "${body.role}"`] });
    if (body.jwt !== k8s.jwt) return sendJson(res, 403, { errors: ['permission denied'] });
    const token = this.createToken();
    sendJson(res, 200, {
      request_id: randomBytes(16).toString('hex'),
      data: null,
      auth: {
        client_token: token,
        accessor: randomBytes(12).toString('base64url'),
        policies: ['default', 'citadel'],
        token_policies: ['default', 'citadel'],
        metadata: { role: k8s.role },
        lease_duration: 3600,
        renewable: true,
      },
    });
  }

  private sign(csrPem: string, extensions: string[], ttlSeconds: number) {
    const id = randomBytes(8).toString('hex');
    const csr = writeTemp(this.dir, `${id}.csr`, csrPem);
    const ext = writeTemp(this.dir, `${id}.ext`, `${extensions.join('\n')}\n`);
    const out = join(this.dir, `${id}.crt`);
    const serial = randomBytes(16);
    serial[0] &= 0x7f;
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      join(this.dir, 'issuing.crt'),
      '-CAkey',
      join(this.dir, 'issuing.key'),
      '-set_serial',
      `0x${serial.toString('hex')}`,
      '-days',
      String(Math.max(1, Math.ceil(ttlSeconds / DAY_S))),
      '-extfile',
      ext,
      '-out',
      out,
    ]);
    const certificate = readFileSync(out, 'utf8').trim();
    const endDate = openssl(['x509', '-in', out, '-noout', '-enddate'])
      .trim()
      .replace(/^notAfter=/, '');
    return {
      certificate,
      issuing_ca: this.issuingPem,
      ca_chain: [this.issuingPem, this.rootPem],
      serial_number: serial.toString('hex').match(/../g)!.join(':'),
      expiration: Math.floor(new Date(endDate).getTime() / 1000),
    };
  }
}

/** Vault's TTL forms: a number of seconds, or a string such as "3600", "90s", "15m", "24h". */
function parseTtl(ttl: unknown): number | undefined {
  if (ttl === undefined || ttl === '') return 30 * DAY_S;
  if (typeof ttl === 'number') return ttl > 0 ? ttl : undefined;
  if (typeof ttl !== 'string') return undefined;
  const m = /^(\d+)([smhd]?)$/.exec(ttl);
  if (!m) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: DAY_S }[m[2]]!;
  return Number(m[1]) * unit;
}
