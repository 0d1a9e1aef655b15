// What the root-rotation specs share: the trust domain, two workload identities, time units, and the rotator's
// options as citadel's defaults have them (rotate at 20% of the root's life left, keep the key).
import type { RootRotatorOptions } from '../root-rotation';

export const TD = 'cluster.local';
export const ALICE = `spiffe://${TD}/ns/default/sa/alice`;
export const BOB = `spiffe://${TD}/ns/shop/sa/bob`;
export const HOUR = 3600 * 1000;
export const YEAR = 365 * 24 * HOUR;
export const OPTIONS: RootRotatorOptions = {
  trustDomain: TD,
  threshold: 0.2,
  rotateKey: false,
  checkIntervalMs: 60_000,
};
