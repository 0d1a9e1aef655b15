// Reads the files and directories named on the command line into parsed resources.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CommanderError } from 'commander';
import { parseText } from '@flotilla/config';
import type { ParseProblem, Resource } from '@flotilla/config';

const CONFIG_FILE = /\.(ya?ml|json)$/i;

/** A usage or I/O problem: the command exits 2. */
export class InputError extends Error {}

function walk(dir: string, out: string[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && CONFIG_FILE.test(e.name)) out.push(p);
  }
}

/** Files named directly are taken as they are; directories contribute their *.yaml, *.yml and *.json, recursively. */
export function collectFiles(paths: readonly string[]): string[] {
  if (paths.length === 0) throw new InputError('no files or directories given');
  const out: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InputError(
        code === 'ENOENT' ? `${p}: no such file or directory` : `${p}: ${(e as Error).message}`,
      );
    }
    if (isDir) {
      try {
        walk(p, out);
      } catch (e) {
        throw new InputError(`${p}: ${(e as Error).message}`);
      }
    } else out.push(p);
  }
  return out;
}

export interface LoadedInputs {
  readonly files: readonly string[];
  readonly resources: Resource[];
  readonly problems: ParseProblem[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads and parses every file. Unreadable files are I/O errors; undecodable or malformed content is a problem. */
export function loadFiles(files: readonly string[]): LoadedInputs {
  const resources: Resource[] = [];
  const problems: ParseProblem[] = [];
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new InputError(`${file}: ${(e as Error).message}`);
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      problems.push({ file, index: 0, message: 'file is not valid UTF-8 text' });
      continue;
    }
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const parsed = parseText(text, file);
    resources.push(...parsed.resources);
    problems.push(...parsed.problems);
  }
  return { files, resources, problems };
}

export type OutputFormat = 'json' | 'text';

export function outputFormat(value: string): OutputFormat {
  if (value !== 'json' && value !== 'text')
    throw new InputError(`--output must be json or text, not ${JSON.stringify(value)}`);
  return value;
}

/** Where a command writes; tests pass their own. */
export interface CommandIO {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export const processIO: CommandIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Commander's exit hook: help and version exit 0, usage errors exit 2. */
export function usageExit(err: CommanderError): never {
  process.exit(err.exitCode === 0 ? 0 : 2);
}
