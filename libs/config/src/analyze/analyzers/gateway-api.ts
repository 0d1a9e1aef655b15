// Gateway API CRDs older than Istio supports (Istio's k8sgateway.CRDVersionAnalyzer, IST0176): istiod does not
// watch these kinds, so their resources are silently ignored.
import { annotationsOf } from '../context';
import type { AnalysisContext, Analyzer } from '../context';
import { Messages } from '../messages';

type Version = readonly [number, number, number];

/** Minimum bundle versions by CRD name, as Istio's pkg/config/schema/gatewayapi lists them. */
const MINIMUM_VERSIONS: Record<string, Version> = {
  'grpcroutes.gateway.networking.k8s.io': [1, 1, 0],
  'backendtlspolicies.gateway.networking.k8s.io': [1, 4, 0],
  'tlsroutes.gateway.networking.k8s.io': [1, 5, 0],
  'tcproutes.gateway.networking.k8s.io': [1, 6, 0],
};

const BUNDLE_VERSION = 'gateway.networking.k8s.io/bundle-version';

/** A semantic version as the Masterminds semver library reads it: `v` optional, minor and patch default to 0. */
function parseVersion(text: string): { version: Version; prerelease: string } | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text);
  if (!m) return undefined;
  return { version: [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)], prerelease: m[4] ?? '' };
}

function lessThan(a: Version, b: Version): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

export const gatewayCRDVersionAnalyzer: Analyzer = {
  name: 'k8sgateway.CRDVersionAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const crd of ctx.all('CustomResourceDefinition')) {
      const minimum = MINIMUM_VERSIONS[crd.name];
      const annotation = annotationsOf(crd)[BUNDLE_VERSION];
      if (!minimum || annotation === undefined) continue;
      const installed = parseVersion(annotation);
      // Pre-releases of the minimum count as the minimum itself.
      if (!installed || !lessThan(installed.version, minimum)) continue;
      const shown = installed.version.join('.') + (installed.prerelease ? `-${installed.prerelease}` : '');
      ctx.report(
        Messages.GatewayAPICRDVersionBelowMinimum,
        crd,
        `Gateway API CRD "${crd.name}" is at version "${shown}" but Istio requires at least "${minimum.join('.')}"; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.`,
      );
    }
  },
};
