// Istio annotations on Kubernetes objects (Istio's annotations.K8sAnalyzer and maturity.AlphaAnalyzer): unknown
// names (IST0108), annotations on a kind they do not apply to (IST0107), values the sidecar injector would reject
// (IST0125), deprecated annotations (IST0135) and alpha-phase ones (IST0136).
import { load } from 'js-yaml';
import type { Resource } from '../../model';
import { list, obj } from '../../validate/common/access';
import { isCIDR } from '../../validate/common/net';
import type { AnalysisContext, Analyzer } from '../context';
import { labelsOf, specOf } from '../context';
import { Messages } from '../messages';
import { isIstioAnnotation, lookupAnnotation } from './annotation-table';

/** The kinds whose annotations Istio's analyzers read. */
const ANNOTATED_KINDS = ['Namespace', 'Service', 'Pod', 'Deployment'];

/** Set by Istio itself, so never reported. */
const ALWAYS_IGNORED = new Set([
  'sidecar.istio.io/status',
  'gateway.istio.io/controller-version',
  'istio.io/rev',
]);

/** Written by istio-cni on every pod it handles, so not reported as alpha on pods that use the CNI plugin. */
const SET_BY_CNI = new Set([
  'sidecar.istio.io/interceptionMode',
  'traffic.sidecar.istio.io/includeInboundPorts',
  'traffic.sidecar.istio.io/excludeInboundPorts',
  'traffic.sidecar.istio.io/includeOutboundIPRanges',
]);

const DEPRECATION_ADVICE: Record<string, string> = {
  'sidecar.istio.io/inject': ' in favor of the "sidecar.istio.io/inject" label',
};

/** metadata.annotations with every scalar value as text (YAML may have read `"10"` written as `10`). */
function annotationEntries(r: Resource): [string, string][] {
  const annotations = obj(obj(r.object.metadata)?.annotations);
  if (!annotations) return [];
  return Object.entries(annotations).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]);
}

const annotationPath = (name: string): string => `metadata.annotations[${name}]`;

export const annotationsAnalyzer: Analyzer = {
  name: 'annotations.K8sAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const kind of ANNOTATED_KINDS) {
      for (const r of ctx.all(kind)) {
        for (const [name, value] of annotationEntries(r)) checkAnnotation(ctx, r, name, value);
      }
    }
  },
};

function checkAnnotation(ctx: AnalysisContext, r: Resource, name: string, value: string): void {
  if (!isIstioAnnotation(name) || ALWAYS_IGNORED.has(name)) return;
  const path = annotationPath(name);
  const definition = lookupAnnotation(name);
  if (!definition) {
    ctx.report(Messages.UnknownAnnotation, r, `Unknown annotation: ${name}`, path);
    return;
  }
  // The inject annotation is only reported while the label that replaces it is absent.
  if (definition.deprecated && !(name === 'sidecar.istio.io/inject' && name in labelsOf(r))) {
    ctx.report(
      Messages.DeprecatedAnnotation,
      r,
      `Annotation "${name}" has been deprecated${DEPRECATION_ADVICE[name] ?? ''} and may not work in future Istio versions.`,
      path,
    );
  }
  if (definition.kinds.includes('Any')) return;
  if (!definition.kinds.includes(r.kind)) {
    ctx.report(
      Messages.MisplacedAnnotation,
      r,
      `Misplaced annotation: ${name} can only be applied to ${definition.kinds.join(', ')}`,
      path,
    );
    return;
  }
  const problem = VALUE_CHECKS[name]?.(value);
  if (problem !== undefined) {
    ctx.report(Messages.InvalidAnnotation, r, `Invalid annotation ${name}: ${problem}`, path);
  }
}

export const alphaAnnotationAnalyzer: Analyzer = {
  name: 'annotations.AlphaAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const kind of ANNOTATED_KINDS) {
      for (const r of ctx.all(kind)) {
        const usesCni = r.kind === 'Pod' && !hasIstioInitContainer(r);
        for (const [name] of annotationEntries(r)) {
          if (!isIstioAnnotation(name) || ALWAYS_IGNORED.has(name)) continue;
          if (lookupAnnotation(name)?.status !== 'Alpha') continue;
          if (usesCni && SET_BY_CNI.has(name)) continue;
          ctx.report(
            Messages.AlphaAnnotation,
            r,
            `Annotation "${name}" is part of an alpha-phase feature and may be incompletely supported.`,
            annotationPath(name),
          );
        }
      }
    }
  },
};

/** Without istio-init the pod's traffic redirection was set up by istio-cni. */
function hasIstioInitContainer(pod: Resource): boolean {
  return list(specOf(pod).initContainers).some((c) => obj(c)?.name === 'istio-init');
}

// Value checks the sidecar injector applies (Istio's pkg/kube/inject/validate.go); each returns the problem.
type ValueCheck = (value: string) => string | undefined;

function portProblem(text: string): string | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) && Number(t) <= 65535 ? undefined : `failed parsing port '${text}'`;
}

function portListProblem(parameter: string, ports: string): string | undefined {
  const trimmed = ports.trim();
  if (trimmed === '') return undefined;
  for (const p of trimmed.split(',')) {
    const problem = portProblem(p);
    if (problem) return `${parameter} invalid: ${problem}`;
  }
  return undefined;
}

function cidrListProblem(parameter: string, cidrs: string): string | undefined {
  if (cidrs === '') return undefined;
  const bad = cidrs.split(',').find((c) => !isCIDR(c));
  return bad === undefined ? undefined : `${parameter} invalid: failed parsing cidr '${bad}'`;
}

function interfaceListProblem(interfaces: string): string | undefined {
  if (interfaces === '') return undefined;
  for (const raw of interfaces.split(',')) {
    const name = raw.trim();
    if (name === '') return 'empty interface name';
    if (name.length > 15) return `interface name "${name}" too long (max 15 chars)`;
    if (!/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(name))
      return `interface name "${name}" contains invalid characters`;
  }
  return undefined;
}

const uint32: ValueCheck = (v) =>
  /^\d+$/.test(v) && Number(v) <= 0xffffffff
    ? undefined
    : `strconv.ParseUint: parsing "${v}": invalid syntax`;

// Go's strconv.ParseBool.
const BOOLEANS = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);
const bool: ValueCheck = (v) =>
  BOOLEANS.has(v) ? undefined : `strconv.ParseBool: parsing "${v}": invalid syntax`;

// A Kubernetes resource quantity such as `100m`, `1.5Gi` or `1e3`.
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;
const quantity: ValueCheck = (v) => {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) return 'value contains control characters';
  return QUANTITY.test(v) ? undefined : 'quantities must match the regular expression';
};

/**
 * proxy.istio.io/config must be a ProxyConfig in YAML or JSON. Only its shape is checked here; Istio also validates
 * the fields (ValidateMeshConfigProxyConfig), which this analyzer does not repeat.
 */
const proxyConfig: ValueCheck = (v) => {
  let parsed: unknown;
  try {
    parsed = load(v);
  } catch (e) {
    return `failed to convert to apply proxy config: ${(e as Error).message.split('\n')[0]}`;
  }
  return parsed === null || parsed === undefined || obj(parsed)
    ? undefined
    : 'failed to convert to apply proxy config: not a YAML mapping';
};

const VALUE_CHECKS: Record<string, ValueCheck> = {
  'proxy.istio.io/config': proxyConfig,
  'sidecar.istio.io/interceptionMode': (v) =>
    ['REDIRECT', 'TPROXY', 'NONE'].includes(v)
      ? undefined
      : `interceptionMode invalid, use REDIRECT,TPROXY,NONE: ${v}`,
  'status.sidecar.istio.io/port': (v) => {
    const problem = portProblem(v);
    return problem && `excludeInboundPorts invalid: ${problem}`;
  },
  'readiness.status.sidecar.istio.io/initialDelaySeconds': uint32,
  'readiness.status.sidecar.istio.io/periodSeconds': uint32,
  'readiness.status.sidecar.istio.io/failureThreshold': uint32,
  'traffic.sidecar.istio.io/includeOutboundIPRanges': (v) =>
    v === '*' ? undefined : cidrListProblem('includeIPRanges', v),
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': (v) => cidrListProblem('excludeIPRanges', v),
  'traffic.sidecar.istio.io/includeInboundPorts': (v) =>
    v === '*' ? undefined : portListProblem('includeInboundPorts', v),
  'traffic.sidecar.istio.io/excludeInboundPorts': (v) => portListProblem('excludeInboundPorts', v),
  'traffic.sidecar.istio.io/excludeOutboundPorts': (v) => portListProblem('excludeOutboundPorts', v),
  'traffic.sidecar.istio.io/excludeInterfaces': interfaceListProblem,
  'traffic.sidecar.istio.io/kubevirtInterfaces': interfaceListProblem,
  'istio.io/reroute-virtual-interfaces': interfaceListProblem,
  'prometheus.istio.io/merge-metrics': bool,
  'sidecar.istio.io/proxyCPU': quantity,
  'sidecar.istio.io/proxyMemory': quantity,
  'sidecar.istio.io/proxyCPULimit': quantity,
  'sidecar.istio.io/proxyMemoryLimit': quantity,
};
