import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { loadOrCreateRoot } from './root-ca';
import { issueServingCertificate } from './serving-cert';

const DAY_MS = 24 * 3600 * 1000;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'flotilla-pki-'));
}

async function handshake(
  serving: { certificatePem: string; privateKeyPem: string },
  rootPem: string,
  host: string,
  servername?: string,
): Promise<void> {
  const server = createServer({ cert: serving.certificatePem, key: serving.privateKeyPem }, (s) =>
    s.end('hi'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port, ca: rootPem, servername }, () => {
        socket.end();
        resolve();
      });
      socket.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('root CA', () => {
  it('creates a self-signed CA once and loads the same one afterwards, key owner-only', async () => {
    const dir = tempDir();
    const first = await loadOrCreateRoot(dir, 'cluster.local');
    const again = await loadOrCreateRoot(dir, 'cluster.local');
    expect(again.certificate.serialNumber).toBe(first.certificate.serialNumber);
    expect(statSync(join(dir, 'root-key.pem')).mode & 0o777).toBe(0o600);
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'root-cert.pem')], {
      encoding: 'utf8',
    });
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    expect(text).toMatch(/prime256v1/);
  });
});

describe('serving certificate', () => {
  it('verifies with openssl against the root', async () => {
    const dir = tempDir();
    const root = await loadOrCreateRoot(dir, 'cluster.local');
    const serving = await issueServingCertificate(root, ['localhost', '127.0.0.1'], DAY_MS);
    writeFileSync(join(dir, 'serving.pem'), serving.certificatePem);
    const out = execFileSync(
      'openssl',
      ['verify', '-CAfile', root.certificatePath!, '-purpose', 'sslserver', join(dir, 'serving.pem')],
      {
        encoding: 'utf8',
      },
    );
    expect(out.trim()).toBe(`${join(dir, 'serving.pem')}: OK`);
  });

  it('completes real TLS handshakes by DNS name and by IP, and fails for a name it does not carry', async () => {
    const root = await loadOrCreateRoot(tempDir(), 'cluster.local');
    const serving = await issueServingCertificate(root, ['localhost', '127.0.0.1'], DAY_MS);
    await handshake(serving, root.certificatePem, '127.0.0.1', 'localhost');
    await handshake(serving, root.certificatePem, '127.0.0.1');
    await expect(handshake(serving, root.certificatePem, '127.0.0.1', 'citadel.example')).rejects.toThrow(
      /does not match certificate's altnames/,
    );
  });

  it('is refused by a client trusting another root', async () => {
    const root = await loadOrCreateRoot(tempDir(), 'cluster.local');
    const other = await loadOrCreateRoot(tempDir(), 'cluster.local');
    const serving = await issueServingCertificate(root, ['localhost'], DAY_MS);
    await expect(handshake(serving, other.certificatePem, '127.0.0.1', 'localhost')).rejects.toThrow(
      /unable to verify the first certificate/,
    );
  });
});
