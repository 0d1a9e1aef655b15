import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { appCommand, option, parseList } from '@flotilla/service-kit';
import type { CommonOptions } from '@flotilla/service-kit';
import type { Command } from 'commander';
import { APP_VERSION } from './version';

export interface CitadelOptions extends CommonOptions {
  /** Where the root CA's key and certificate, the local token key and the revocations live. */
  stateDir: string;
  trustDomain: string;
  /** DNS names and IP addresses in citadel's own TLS serving certificate. */
  servingDnsNames: string[];
  /** Istio cacerts folder (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem); empty: self-signed root. */
  cacertsDir: string;
  /** Milliseconds. */
  defaultCertTtl: number;
  /** Milliseconds. */
  maxCertTtl: number;
  /** Accept `flotilla token` JWTs signed with the key in the state folder. */
  localTokens: boolean;
  /** Kubernetes API server for TokenReview; empty: Kubernetes tokens are not accepted. */
  kubeApiServer: string;
  kubeTokenFile: string;
  kubeCaFile: string;
  ocspUrl: string;
  crlUrl: string;
  /** PKCS #11 module holding the CA key; empty: a software key. */
  pkcs11Module: string;
  pkcs11TokenLabel: string;
  pkcs11KeyLabel: string;
  pkcs11Pin: string;
  /** HashiCorp Vault's address; empty: Vault is not used. */
  vaultAddress: string;
  /** Where Vault's PKI secrets engine is mounted. */
  vaultMount: string;
  /** The PKI role that signs workload certificates (sign-leaf). */
  vaultRole: string;
  /** File holding a Vault token (token auth). */
  vaultTokenFile: string;
  /** Vault Kubernetes auth role (Kubernetes auth, with citadel's service-account token); empty: token auth. */
  vaultK8sRole: string;
  /** sign-leaf: Vault signs every workload certificate; sign-intermediate: Vault signs citadel's intermediate. */
  vaultMode: VaultMode;
  /** Milliseconds between checks of the Vault-signed intermediate's remaining lifetime (sign-intermediate). */
  vaultIntermediateCheckInterval: number;
  /** Renew the Vault-signed intermediate once at most this fraction of its lifetime is left. */
  vaultIntermediateRenewThreshold: number;
  /** Milliseconds between checks of the self-signed root's remaining lifetime. */
  rootRotationCheckInterval: number;
  /** Rotate the self-signed root once at most this fraction of its lifetime is left. */
  rootRotationThreshold: number;
  /** Sign the rotated root with a new key (CA key rotation) instead of the old one; on the token with --pkcs11-module. */
  rotateCaKey: boolean;
  /**
   * Citadel's namespace. With --kube-api-server, the self-signed root lives in Secret istio-ca-secret there, and
   * the trust bundle and CRL go to ConfigMaps istio-ca-root-cert and istio-ca-crl in every namespace; empty: off.
   */
  kubeNamespace: string;
}

export type VaultMode = 'sign-leaf' | 'sign-intermediate';

function parseVaultMode(value: string): VaultMode {
  if (value === 'sign-leaf' || value === 'sign-intermediate') return value;
  throw new InvalidArgumentError(`${JSON.stringify(value)} is not sign-leaf or sign-intermediate`);
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "24h", "90d", "30m", "45s" (or bare seconds) → milliseconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] || 's'] : NaN;
  if (!(ms > 0))
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not a duration such as 24h, 90d or 3600s`);
  return ms;
}

/** A fraction strictly between 0 and 1: "0.2". */
export function parseFraction(value: string): number {
  const n = Number(value.trim());
  if (!(n > 0 && n < 1))
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not a number between 0 and 1`);
  return n;
}

function parseBoolean(value: string): boolean {
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new InvalidArgumentError(`${JSON.stringify(value)} is not true or false`);
}

export function citadelCommand(): Command {
  return appCommand('citadel', 'Flotilla citadel: the mesh certificate authority', APP_VERSION, {
    grpcPort: 8060,
    monitoringPort: 15016,
  })
    .addOption(
      option('--state-dir <dir>', "folder for the CA's key and certificates", '.flotilla/citadel', (v) =>
        resolve(v),
      ),
    )
    .addOption(option('--trust-domain <domain>', 'SPIFFE trust domain', 'cluster.local'))
    .addOption(
      option(
        '--serving-dns-names <names>',
        "comma-separated DNS names and IPs of citadel's TLS certificate",
        ['localhost', '127.0.0.1'],
        parseList,
      ),
    )
    .addOption(
      option(
        '--cacerts-dir <dir>',
        'plugged-in CA in Istio’s cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem); empty: a self-signed root in the state folder',
        '',
        (v) => (v ? resolve(v) : ''),
      ),
    )
    .addOption(
      option(
        '--default-cert-ttl <duration>',
        'workload certificate lifetime when none is asked for',
        parseDuration('24h'),
        parseDuration,
        '24h',
      ),
    )
    .addOption(
      option(
        '--max-cert-ttl <duration>',
        'longest workload certificate lifetime a request may ask for',
        parseDuration('90d'),
        parseDuration,
        '90d',
      ),
    )
    .addOption(
      option(
        '--local-tokens <bool>',
        'accept `flotilla token` tokens signed with the key in the state folder',
        true,
        parseBoolean,
      ),
    )
    .addOption(
      option(
        '--kube-api-server <url>',
        'Kubernetes API server: TokenReview of service-account tokens, and with --kube-namespace the CA Secret and the ConfigMaps it publishes; empty: off',
        '',
      ),
    )
    .addOption(
      option(
        '--kube-token-file <file>',
        "citadel's own service-account token for calls to the API server",
        '',
      ),
    )
    .addOption(option('--kube-ca-file <file>', "CA bundle for the Kubernetes API server's certificate", ''))
    .addOption(
      option('--ocsp-url <url>', 'OCSP responder URL written into workload certificates; empty: none', ''),
    )
    .addOption(option('--crl-url <url>', 'CRL URL written into workload certificates; empty: none', ''))
    .addOption(
      option(
        '--pkcs11-module <path>',
        'PKCS #11 module holding the CA key (e.g. /usr/lib/softhsm/libsofthsm2.so); its self-signed root is kept in the state folder (with --kube-namespace in Secret istio-ca-secret, naming the key by its PKCS #11 URI) and rotated like a software one',
        '',
      ),
    )
    .addOption(option('--pkcs11-token-label <label>', 'label of the token holding the CA key', 'flotilla-ca'))
    .addOption(option('--pkcs11-key-label <label>', 'label of the CA key pair on the token', 'flotilla-ca'))
    .addOption(
      option('--pkcs11-pin <pin>', 'user PIN of the token (prefer the FLOTILLA_PKCS11_PIN variable)', ''),
    )
    .addOption(
      option(
        '--vault-address <url>',
        'HashiCorp Vault holding the CA key (PKI secrets engine); empty: off',
        '',
      ),
    )
    .addOption(option('--vault-mount <path>', "mount path of Vault's PKI secrets engine", 'pki'))
    .addOption(option('--vault-role <role>', 'Vault PKI role that signs workload certificates', 'citadel'))
    .addOption(option('--vault-token-file <file>', 'file holding the Vault token (token auth)', ''))
    .addOption(
      option(
        '--vault-k8s-role <role>',
        "Vault Kubernetes auth role, logged in with citadel's service-account token; empty: token auth",
        '',
      ),
    )
    .addOption(
      option(
        '--vault-mode <mode>',
        "sign-leaf: Vault signs every workload certificate; sign-intermediate: Vault signs citadel's intermediate",
        'sign-leaf',
        parseVaultMode,
      ),
    )
    .addOption(
      option(
        '--vault-intermediate-check-interval <duration>',
        'with --vault-mode sign-intermediate: how often the remaining lifetime of the intermediate Vault signed is checked',
        parseDuration('1h'),
        parseDuration,
        '1h',
      ),
    )
    .addOption(
      option(
        '--vault-intermediate-renew-threshold <fraction>',
        'with --vault-mode sign-intermediate: have Vault sign a new intermediate (new key) once this fraction of its lifetime or less is left; while Vault cannot be reached the current one keeps signing and each check retries',
        0.2,
        parseFraction,
      ),
    )
    .addOption(
      option(
        '--root-rotation-check-interval <duration>',
        'how often the self-signed root’s remaining lifetime is checked',
        parseDuration('1h'),
        parseDuration,
        '1h',
      ),
    )
    .addOption(
      option(
        '--root-rotation-threshold <fraction>',
        'rotate the self-signed root once this fraction of its lifetime or less is left; the old root stays in the trust bundle until it expires',
        0.2,
        parseFraction,
      ),
    )
    .addOption(
      option(
        '--rotate-ca-key <bool>',
        'sign the rotated root with a new key (CA key rotation) instead of reusing the old one; with --pkcs11-module the new key pair is generated on the token under the same label, and an old pair is destroyed once its root has expired and left the trust bundle',
        false,
        parseBoolean,
      ),
    )
    .addOption(
      option(
        '--kube-namespace <namespace>',
        "citadel's namespace: with --kube-api-server the self-signed root is kept in Secret istio-ca-secret there and the trust bundle and CRL are published as ConfigMaps istio-ca-root-cert and istio-ca-crl in every namespace; empty: off",
        '',
      ),
    );
}
