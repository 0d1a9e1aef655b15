import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary folder. */
export function tempDir(prefix = 'flotilla-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs openssl and returns stdout; throws with stderr when it exits non-zero. */
export function openssl(args: string[], options: { input?: string | Buffer; cwd?: string } = {}): string {
  return execFileSync('openssl', args, {
    input: options.input,
    cwd: options.cwd,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs openssl and returns its exit status and both outputs, for checks that expect it to refuse. */
export function opensslResult(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export type TestKeyType = 'p256' | 'p384' | 'p521' | 'rsa2048' | 'rsa1024' | 'ed25519';

/** A new private key made by openssl, as PEM, written to <dir>/<name>.key. */
export function opensslKey(dir: string, name: string, type: TestKeyType = 'p256'): string {
  const path = join(dir, `${name}.key`);
  const args: Record<TestKeyType, string[]> = {
    p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
    p521: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
    rsa2048: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
    rsa1024: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
    ed25519: ['-algorithm', 'ED25519'],
  };
  openssl(['genpkey', ...args[type], '-out', path]);
  return readFileSync(path, 'utf8');
}

/**
 * A PEM CSR made by `openssl req` for the key at <dir>/<name>.key (created when absent), with an empty subject
 * unless given and the given URI SANs (none: no SAN extension).
 */
export function opensslCsr(
  dir: string,
  name: string,
  options: { uris?: string[]; subject?: string; keyType?: TestKeyType } = {},
): string {
  const keyPath = join(dir, `${name}.key`);
  try {
    readFileSync(keyPath);
  } catch {
    opensslKey(dir, name, options.keyType);
  }
  const csrPath = join(dir, `${name}.csr`);
  const args = ['req', '-new', '-key', keyPath, '-subj', options.subject ?? '/', '-out', csrPath];
  if (options.uris?.length)
    args.push('-addext', `subjectAltName=${options.uris.map((u) => `URI:${u}`).join(',')}`);
  openssl(args);
  return readFileSync(csrPath, 'utf8');
}

/** Writes text to <dir>/<name> and returns the path. */
export function writeTemp(dir: string, name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}
