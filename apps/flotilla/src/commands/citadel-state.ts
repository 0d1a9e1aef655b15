import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The citadel state folder behind a `--state` argument: `flotilla up` keeps citadel's in <state>/citadel, and a
 * citadel run on its own keeps it in its --state-dir, which may be given directly.
 */
export function citadelStateDir(state: string, marker: string): string | undefined {
  const base = resolve(state);
  return [join(base, 'citadel'), base].find((dir) => existsSync(join(dir, marker)));
}

/** Kubernetes names (RFC 1123 labels) for namespaces and service accounts. */
export const KUBE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
