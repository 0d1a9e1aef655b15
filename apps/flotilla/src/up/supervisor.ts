import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface SupervisedProcess {
  name: string;
  child: ChildProcess;
  /** Settles when the process has exited, with its code (or the signal's name). */
  exited: Promise<number | string>;
  /** The last lines it printed, for the message when it dies. */
  tail: string[];
}

export interface SpawnSpec {
  name: string;
  script: string;
  args: string[];
  /** Node's own flags, before the script (V8 heap settings, say). */
  nodeArgs?: string[];
  onLine: (line: string) => void;
}

const TAIL_LINES = 20;

/**
 * Starts a Node program as a supervised child: in its own process group (a terminal's Ctrl-C reaches only the
 * supervisor, which then stops each child once, with SIGTERM), with stdin held open as a lifeline (the child
 * exits when it closes, so nothing outlives a killed supervisor) and every output line handed to `onLine`.
 */
export function spawnSupervised(spec: SpawnSpec): SupervisedProcess {
  const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), spec.script, ...spec.args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, FLOTILLA_SUPERVISED: '1' },
  });
  const tail: string[] = [];
  const take = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    spec.onLine(line);
  };
  createInterface({ input: child.stdout! }).on('line', take);
  createInterface({ input: child.stderr! }).on('line', take);
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (err) => {
      take(`failed to start: ${err.message}`);
      resolve('spawn-error');
    });
  });
  return { name: spec.name, child, exited, tail };
}

/** SIGTERM to every process still running; SIGKILL to those still there after `graceMs`. */
export async function stopAll(processes: SupervisedProcess[], graceMs: number): Promise<void> {
  const running = processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  for (const p of running) p.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const p of running)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }, graceMs);
  await Promise.all(running.map((p) => p.exited));
  clearTimeout(timer);
}
