import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { appCommand, option, parsePort, parsePositiveNumber } from '@flotilla/service-kit';
import type { CommonOptions } from '@flotilla/service-kit';
import type { Command } from 'commander';
import { APP_VERSION } from './version';

export interface GalleyOptions extends CommonOptions {
  /** The folder of mesh configuration (YAML/JSON) galley serves. */
  configDir?: string;
  /** Read Istio resources and service discovery objects from a Kubernetes cluster. */
  kubernetes: boolean;
  /** The kubeconfig to use with --kubernetes (default: in-cluster, else ~/.kube/config). */
  kubeconfig?: string;
  /** Quiet time after the last change before a new snapshot is served (ms). */
  debounce: number;
  webhookPort: number;
  /** Folder with tls.crt and tls.key; the admission webhook runs only when set. */
  webhookCertDir?: string;
}

export function parseDirectory(value: string): string {
  const dir = resolve(value);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
    accessSync(dir, constants.R_OK);
  } catch (err) {
    throw new InvalidArgumentError(
      `${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!isDir) throw new InvalidArgumentError(`${dir} is not a directory`);
  return dir;
}

export function galleyCommand(): Command {
  return appCommand('galley', 'Flotilla galley: mesh configuration ingest, validation and MCP', APP_VERSION, {
    grpcPort: 9901,
    monitoringPort: 9902,
  })
    .addOption(
      option<string | undefined>(
        '--config-dir <dir>',
        'folder of mesh configuration (YAML, JSON), watched',
        undefined,
        parseDirectory,
      ),
    )
    .addOption(
      option(
        '--kubernetes',
        'read Istio resources, Services, EndpointSlices, Pods and Namespaces from Kubernetes',
        false,
      ),
    )
    .addOption(
      option<string | undefined>(
        '--kubeconfig <file>',
        'kubeconfig for --kubernetes (default: in-cluster)',
        undefined,
      ),
    )
    .addOption(
      option(
        '--debounce <ms>',
        'quiet time after a file or object change before serving a new snapshot',
        10,
        parsePositiveNumber,
      ),
    )
    .addOption(
      option('--webhook-port <port>', 'HTTPS port of the validating admission webhook', 15017, parsePort),
    )
    .addOption(
      option<string | undefined>(
        '--webhook-cert-dir <dir>',
        'folder with tls.crt and tls.key (a mounted kubernetes.io/tls Secret); enables the webhook',
        undefined,
        parseDirectory,
      ),
    );
}
