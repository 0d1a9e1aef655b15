/** A small Dockerfile reader: stages, and each stage's instructions with their line numbers. */
import * as fs from 'node:fs';
import { repoPath } from './facts';

export const DOCKERFILE = repoPath('deploy', 'docker', 'Dockerfile');

export interface Instruction {
  keyword: string;
  /** The instruction's text after the keyword, continuation lines joined. */
  value: string;
  line: number;
}

export interface Stage {
  name?: string;
  from: string;
  line: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export function readDockerfile(file = DOCKERFILE): Dockerfile {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && !pending)) return;
    const continues = trimmed.endsWith('\\');
    const text = continues ? trimmed.slice(0, -1) : trimmed;
    pending = pending ? { text: `${pending.text} ${text}`, line: pending.line } : { text, line: i + 1 };
    if (!continues) {
      const match = /^(\S+)\s*(.*)$/.exec(pending.text.trim());
      if (match)
        instructions.push({ keyword: match[1].toUpperCase(), value: match[2].trim(), line: pending.line });
      pending = undefined;
    }
  });

  const out: Dockerfile = { globalArgs: {}, stages: [] };
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const match = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.value);
      if (!match) throw new Error(`${file}:${ins.line}: cannot read FROM ${ins.value}`);
      out.stages.push({ from: match[1], name: match[2], line: ins.line, instructions: [] });
    } else if (out.stages.length === 0) {
      if (ins.keyword === 'ARG') {
        const [name, value = ''] = ins.value.split('=');
        out.globalArgs[name] = value;
      }
    } else {
      out.stages[out.stages.length - 1].instructions.push(ins);
    }
  }
  return out;
}

/** Splits on whitespace outside double or single quotes, dropping the quotes. */
function words(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** ENV instructions of a stage as a record (`ENV A=1 B=2` and the old `ENV A 1`). */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    const parts = words(ins.value);
    if (parts.length >= 1 && !parts[0].includes('=')) {
      env[parts[0]] = parts.slice(1).join(' ');
      continue;
    }
    for (const part of parts) {
      const eq = part.indexOf('=');
      env[part.slice(0, eq)] = part.slice(eq + 1);
    }
  }
  return env;
}

/** Ports of the stage's EXPOSE instructions (`8080`, `8080/tcp`). */
export function exposedPorts(stage: Stage): number[] {
  return stage.instructions
    .filter((i) => i.keyword === 'EXPOSE')
    .flatMap((i) => i.value.split(/\s+/))
    .map((p) => Number(p.split('/')[0]));
}

/** The stage's CMD in exec form, or undefined when it has none or uses the shell form. */
export function execCmdOf(stage: Stage, keyword = 'CMD'): string[] | undefined {
  const ins = [...stage.instructions].reverse().find((i) => i.keyword === keyword);
  if (!ins) return undefined;
  try {
    const parsed: unknown = JSON.parse(ins.value);
    return Array.isArray(parsed) ? parsed.map(String) : undefined;
  } catch {
    return undefined;
  }
}

export function lastValue(stage: Stage, keyword: string): string | undefined {
  return [...stage.instructions].reverse().find((i) => i.keyword === keyword)?.value;
}

/** The stage and the stages it is built FROM, nearest first. */
export function ancestry(dockerfile: Dockerfile, stage: Stage): Stage[] {
  const chain: Stage[] = [stage];
  for (;;) {
    const parentName: string = chain[chain.length - 1].from;
    const parent = dockerfile.stages.find((x) => x.name === parentName);
    if (!parent || chain.includes(parent)) return chain;
    chain.push(parent);
  }
}
