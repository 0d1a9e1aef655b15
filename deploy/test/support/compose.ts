/** Reads deploy/compose/docker-compose.yml the way Compose does for the parts the specs check. */
import * as fs from 'node:fs';
import { parse } from 'yaml';
import { repoPath } from './facts';

export const COMPOSE_FILE = repoPath('deploy', 'compose', 'docker-compose.yml');
export const COMPOSE_DIR = repoPath('deploy', 'compose');

export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; target?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (
    string | number | { target: number; published?: number | string; host_ip?: string; protocol?: string }
  )[];
  volumes?: (string | { type?: string; source?: string; target: string; read_only?: boolean })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export interface PublishedPort {
  hostIp?: string;
  hostPort?: number;
  containerPort: number;
  protocol: string;
}

export interface VolumeMount {
  source?: string;
  target: string;
  readOnly: boolean;
}

/** `${NAME:-default}` and `${NAME-default}` become the default, `${NAME}` and `$NAME` become ''. */
export function interpolate(value: string): string {
  return value
    .replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}/g, '$1')
    .replace(/\$\{[A-Za-z_][A-Za-z0-9_]*\}/g, '')
    .replace(/\$(?!\$)[A-Za-z_][A-Za-z0-9_]*/g, '')
    .replace(/\$\$/g, '$');
}

export function loadCompose(file = COMPOSE_FILE): ComposeFile {
  // Compose files use YAML merge keys (`<<: *anchor`).
  const doc = parse(fs.readFileSync(file, 'utf8'), { merge: true }) as ComposeFile;
  if (!doc || typeof doc.services !== 'object') throw new Error(`${file}: no services`);
  return doc;
}

/** The service's environment as a record, with `${...}` interpolated and every value a string. */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, ''] : [entry.slice(0, eq), interpolate(entry.slice(eq + 1))];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, v === null ? '' : interpolate(String(v))]),
  );
}

/** The service's command as a list of arguments (a string command is split on spaces, as Compose does). */
export function commandOf(service: ComposeService): string[] {
  if (service.command === undefined) return [];
  return Array.isArray(service.command)
    ? service.command.map(String)
    : service.command.split(/\s+/).filter(Boolean);
}

/** Parses `[ip:][host:]container[/proto]` and the long syntax; a port range is reported as NaN. */
export function publishedPorts(service: ComposeService): PublishedPort[] {
  return (service.ports ?? []).map((entry) => {
    if (typeof entry === 'object') {
      return {
        hostIp: entry.host_ip,
        hostPort: entry.published === undefined ? undefined : Number(entry.published),
        containerPort: Number(entry.target),
        protocol: entry.protocol ?? 'tcp',
      };
    }
    const [spec, protocol = 'tcp'] = String(entry).split('/');
    const parts = spec.split(':');
    const containerPort = Number(parts.pop());
    const hostPort = parts.length > 0 ? Number(parts.pop()) : undefined;
    const hostIp = parts.length > 0 ? parts.join(':') : undefined;
    return { hostIp, hostPort, containerPort, protocol };
  });
}

export function volumeMounts(service: ComposeService): VolumeMount[] {
  return (service.volumes ?? []).map((entry) => {
    if (typeof entry === 'object') {
      return { source: entry.source, target: entry.target, readOnly: entry.read_only === true };
    }
    const parts = entry.split(':');
    if (parts.length === 1) return { target: parts[0], readOnly: false };
    return { source: parts[0], target: parts[1], readOnly: (parts[2] ?? '').split(',').includes('ro') };
  });
}

export function dependsOn(service: ComposeService): Record<string, string | undefined> {
  const deps = service.depends_on ?? [];
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, undefined]));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d?.condition]));
}

export function healthcheckCommand(service: ComposeService): string[] {
  const test = service.healthcheck?.test;
  if (test === undefined) return [];
  return Array.isArray(test) ? test.map(String) : ['CMD-SHELL', test];
}
