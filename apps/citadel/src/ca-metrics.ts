import { X509Certificate } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Citadel } from './citadel';

/**
 * What an operator watches of the CA itself, beside the per-request metrics of ca-service.ts:
 *
 * - Istio's citadel_server_root_cert_expiry_timestamp and citadel_server_cert_chain_expiry_timestamp (Unix
 *   seconds): when the current root, and the certificate new leaves are signed with, expire. Read at scrape time,
 *   so they follow rotations.
 * - flotilla_citadel_ca_renewals_total{kind, result}: root rotation checks and Vault intermediate renewals that
 *   changed the CA (result "changed") or failed (result "error"; the previous CA keeps signing). A counter that
 *   keeps rising with "error" is what to alert on.
 */
export function registerCaMetrics(metrics: Registry, citadel: Citadel): void {
  const expiry = (der: Buffer) => Date.parse(new X509Certificate(der).validTo) / 1000;
  new Gauge({
    name: 'citadel_server_root_cert_expiry_timestamp',
    help: 'The Unix timestamp, in seconds, when the current root certificate expires.',
    registers: [metrics],
    collect() {
      const roots = citadel.current.ca.material.roots;
      if (roots.length > 0) this.set(expiry(roots[0]));
    },
  });
  new Gauge({
    name: 'citadel_server_cert_chain_expiry_timestamp',
    help: 'The Unix timestamp, in seconds, when the certificate that signs workload certificates expires.',
    registers: [metrics],
    collect() {
      this.set(expiry(citadel.current.ca.material.signingCertificate));
    },
  });
  const renewals = new Counter({
    name: 'flotilla_citadel_ca_renewals_total',
    help: 'Root rotations and Vault intermediate renewals, by kind (root, intermediate) and result (changed, error).',
    labelNames: ['kind', 'result'],
    registers: [metrics],
  });
  for (const kind of ['root', 'intermediate'] as const) {
    for (const result of ['changed', 'error'] as const) renewals.inc({ kind, result }, 0);
  }
  citadel.rotator?.on('change', () => renewals.inc({ kind: 'root', result: 'changed' }));
  citadel.rotator?.on('error', () => renewals.inc({ kind: 'root', result: 'error' }));
  citadel.intermediateRenewer?.on('change', () => renewals.inc({ kind: 'intermediate', result: 'changed' }));
  citadel.intermediateRenewer?.on('error', () => renewals.inc({ kind: 'intermediate', result: 'error' }));
}
