import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { appCommand, option } from '@flotilla/service-kit';
import type { CommonOptions } from '@flotilla/service-kit';
import type { Command } from 'commander';
import { APP_VERSION } from './version';

export interface GalleyOptions extends CommonOptions {
  /** The folder of mesh configuration (YAML/JSON) galley serves; none when it reads Kubernetes. */
  configDir?: string;
}

export function parseConfigDir(value: string): string {
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
  }).addOption(
    option<string | undefined>(
      '--config-dir <dir>',
      'folder of mesh configuration (YAML, JSON)',
      undefined,
      parseConfigDir,
    ),
  );
}
