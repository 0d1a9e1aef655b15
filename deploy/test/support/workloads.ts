/** Typed views of the parts of a Deployment the specs read, and the flag/port rules shared by the specs. */
import type { PortFact } from './facts';
import type { K8sObject, Rendered } from './kustomize';

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface HttpProbe {
  httpGet?: { path?: string; port?: string | number };
}

export interface EnvVar {
  name: string;
  value?: string;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: HttpProbe;
  livenessProbe?: HttpProbe;
  startupProbe?: HttpProbe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

export interface PodSpec {
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  volumes?: ({ name: string } & Record<string, unknown>)[];
}

export interface DeploymentSpec {
  selector: { matchLabels?: Record<string, string> };
  template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: string | number;
}

export interface ServiceSpec {
  selector?: Record<string, string>;
  ports?: ServicePort[];
}

export function specOf<T>(object: K8sObject): T {
  return object.spec as T;
}

export function ofKind(rendered: Rendered[], kind: string): Rendered[] {
  return rendered.filter((r) => r.object.kind === kind);
}

/** True when every label of `selector` is in `labels` (and the selector is not empty). */
export function selects(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/**
 * Flags in an argument list: `--flag=value`, `--flag value`, or a bare `--flag` (value `true`). Each entry
 * keeps the index of the argument it came from, for messages.
 */
export function parseFlags(args: readonly string[]): { flag: string; value: string | true; index: number }[] {
  const out: { flag: string; value: string | true; index: number }[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq >= 0) {
      out.push({ flag: arg.slice(0, eq), value: arg.slice(eq + 1), index: i });
    } else if (i + 1 < args.length && !args[i + 1].startsWith('-')) {
      out.push({ flag: arg, value: args[i + 1], index: i });
      i++;
    } else {
      out.push({ flag: arg, value: true, index: i });
    }
  }
  return out;
}

/**
 * The port an app listens on for `port`: its flag if given, else its environment variable, else the default
 * (the order commander gives them). `where` names the source of the value, for messages.
 */
export function effectivePort(
  port: PortFact,
  args: readonly string[],
  env: Record<string, string | undefined>,
): { port: number; where: string } {
  const fromFlag = parseFlags(args).find((f) => f.flag === port.flag);
  if (fromFlag) return { port: Number(fromFlag.value), where: `${port.flag} in args` };
  const fromEnv = env[port.env];
  if (fromEnv !== undefined) return { port: Number(fromEnv), where: `${port.env} in env` };
  return { port: port.defaultPort, where: `default of ${port.flag}` };
}

export function envRecord(env: readonly EnvVar[] | undefined): Record<string, string | undefined> {
  return Object.fromEntries((env ?? []).map((e) => [e.name, e.value]));
}

/** The app a workload belongs to, from its `app.kubernetes.io/name` label. */
export function appLabelOf(object: K8sObject): string | undefined {
  return object.metadata.labels?.['app.kubernetes.io/name'];
}
