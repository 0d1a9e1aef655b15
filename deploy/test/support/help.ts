/** Runs an app's `--help` and reads its options (commander's layout: flags, description, `(default: …, env: …)`). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { REPO_ROOT, repoPath } from './facts';

export interface HelpOption {
  /** The long flag, `--grpc-port`. */
  flag: string;
  /** The variable commander lists as `env: NAME`, if any. */
  env?: string;
  /** The default commander lists as `default: value`, quotes removed, if any. */
  defaultValue?: string;
  text: string;
}

export interface Help {
  text: string;
  options: Map<string, HelpOption>;
  /** Every FLOTILLA_* name anywhere in the help text. */
  envNames: Set<string>;
}

function entryPoint(app: string): string {
  return repoPath('apps', app, 'dist', 'main.js');
}

/** Splits the help into option entries: a line starting with `-`, plus its more-indented continuation lines. */
export function parseHelp(text: string): Help {
  const options = new Map<string, HelpOption>();
  const entries: string[] = [];
  let current: string | undefined;
  let indent = 0;
  for (const line of text.split('\n')) {
    const lead = line.length - line.trimStart().length;
    if (/^\s+-/.test(line)) {
      if (current !== undefined) entries.push(current);
      current = line.trim();
      indent = lead;
    } else if (current !== undefined && line.trim() !== '' && lead > indent) {
      current += ' ' + line.trim();
    } else {
      if (current !== undefined) entries.push(current);
      current = undefined;
    }
  }
  if (current !== undefined) entries.push(current);

  for (const entry of entries) {
    const flag = /(?:^|[\s,])(--[a-z0-9][a-z0-9-]*)/.exec(entry)?.[1];
    if (!flag) continue;
    const env = /\benv:\s*([A-Z][A-Z0-9_]*)/.exec(entry)?.[1];
    const def = /\bdefault:\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\]|[^,)]*)/.exec(entry)?.[1]?.trim();
    const defaultValue = def?.startsWith('"') ? (JSON.parse(def) as string) : def;
    options.set(flag, { flag, env, defaultValue, text: entry });
  }
  return { text, options, envNames: new Set(text.match(/\bFLOTILLA_[A-Z0-9_]+/g) ?? []) };
}

/** `node apps/<app>/dist/main.js --help` from the repository root, without any FLOTILLA_* in its environment. */
export function runHelp(app: string): Help {
  const main = entryPoint(app);
  if (!fs.existsSync(main)) {
    throw new Error(`${main} does not exist: build the app first (npx nx run ${app}:build)`);
  }
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLOTILLA_')));
  const result = spawnSync(process.execPath, [main, '--help'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...env, COLUMNS: '200' },
    timeout: 30_000,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`node apps/${app}/dist/main.js --help exited ${result.status}:\n${result.stderr}`);
  }
  return parseHelp(result.stdout);
}
