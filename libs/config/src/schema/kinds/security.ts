// security.istio.io kinds: AuthorizationPolicy, PeerAuthentication, RequestAuthentication.
import { arr, enumOf, map, obj, str, strings } from '../build';
import type { Obj, Schema } from '../types';
import { duration, selectorOrTargets, targetRef, targetRefs, workloadSelector } from './shared';

const has = (v: Obj, f: string): boolean => v[f] !== undefined;

const source = (): Schema =>
  obj(
    {
      principals: strings(),
      notPrincipals: strings(),
      requestPrincipals: strings(),
      notRequestPrincipals: strings(),
      namespaces: strings(),
      notNamespaces: strings(),
      serviceAccounts: arr(str({ maxLength: 320 }), { maxItems: 16 }),
      notServiceAccounts: arr(str({ maxLength: 320 }), { maxItems: 16 }),
      ipBlocks: strings(),
      notIpBlocks: strings(),
      remoteIpBlocks: strings(),
      notRemoteIpBlocks: strings(),
      trustDomains: strings(),
      notTrustDomains: strings(),
    },
    {
      rules: [
        {
          message: 'Cannot set serviceAccounts with namespaces or principals',
          cel: '(has(self.serviceAccounts) || has(self.notServiceAccounts)) ? (!has(self.principals) && !has(self.notPrincipals) && !has(self.namespaces) && !has(self.notNamespaces)) : true',
          test: (v) =>
            !(has(v, 'serviceAccounts') || has(v, 'notServiceAccounts')) ||
            !(
              has(v, 'principals') ||
              has(v, 'notPrincipals') ||
              has(v, 'namespaces') ||
              has(v, 'notNamespaces')
            ),
        },
      ],
    },
  );

const operation = (): Schema =>
  obj({
    hosts: strings(),
    notHosts: strings(),
    ports: strings(),
    notPorts: strings(),
    methods: strings(),
    notMethods: strings(),
    paths: strings(),
    notPaths: strings(),
  });

export const authorizationPolicySpec = (): Schema =>
  obj(
    {
      selector: workloadSelector(),
      targetRef: targetRef(),
      targetRefs: targetRefs(),
      rules: arr(
        obj({
          from: arr(obj({ source: source() }), { maxItems: 512 }),
          to: arr(obj({ operation: operation() })),
          when: arr(obj({ key: str(), values: strings(), notValues: strings() }, { required: ['key'] })),
        }),
        { maxItems: 512 },
      ),
      action: enumOf(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']),
      provider: obj({ name: str() }),
    },
    { rules: [selectorOrTargets(['selector', 'targetRef', 'targetRefs'])] },
  );

const mtlsMode = (): Schema => obj({ mode: enumOf(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']) });

const portKeyInRange = (k: string): boolean => /^[+-]?\d+$/.test(k) && Number(k) > 0 && Number(k) <= 65535;

export const peerAuthenticationSpec = (): Schema =>
  obj(
    {
      selector: workloadSelector(),
      mtls: mtlsMode(),
      portLevelMtls: map(mtlsMode(), {
        minProperties: 1,
        rules: [
          {
            message: 'port must be between 1-65535',
            cel: 'self.all(key, 0 < int(key) && int(key) <= 65535)',
            test: (v) => Object.keys(v).every((k) => !/^[+-]?\d+$/.test(k) || portKeyInRange(k)),
          },
          {
            message: 'port must be between 1-65535 (type conversion error from string to int)',
            test: (v) => Object.keys(v).every((k) => /^[+-]?\d+$/.test(k)),
          },
        ],
      }),
    },
    {
      rules: [
        {
          message: 'portLevelMtls requires selector',
          cel: 'has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? self.selector.matchLabels : {}).size() > 0) : true',
          test: (v) => {
            if (v.portLevelMtls === undefined) return true;
            const sel = v.selector as Obj | null | undefined;
            const labels = sel && typeof sel === 'object' ? (sel.matchLabels as Obj | undefined) : undefined;
            return !!labels && typeof labels === 'object' && Object.keys(labels).length > 0;
          },
        },
      ],
    },
  );

const jwksUriRule = {
  message: 'url must have scheme http:// or https://',
  cel: 'url(self).getScheme() in ["http", "https"]',
  test: (u: string) => /^https?:\/\//i.test(u),
};

export const requestAuthenticationSpec = (): Schema =>
  obj(
    {
      selector: workloadSelector(),
      targetRef: targetRef(),
      targetRefs: targetRefs(),
      jwtRules: arr(
        obj(
          {
            issuer: str({ minLength: 1 }),
            audiences: arr(str({ minLength: 1 })),
            jwksUri: str({ minLength: 1, maxLength: 2048, rules: [jwksUriRule] }),
            jwks_uri: str({ minLength: 1, maxLength: 2048, rules: [jwksUriRule] }),
            jwks: str(),
            fromHeaders: arr(obj({ name: str({ minLength: 1 }), prefix: str() }, { required: ['name'] })),
            fromParams: arr(str({ minLength: 1 })),
            outputPayloadToHeader: str(),
            forwardOriginalToken: { type: 'boolean' },
            outputClaimToHeaders: arr(
              obj(
                { header: str({ minLength: 1, pattern: '^[-_A-Za-z0-9]+$' }), claim: str({ minLength: 1 }) },
                { required: ['header', 'claim'] },
              ),
            ),
            fromCookies: arr(str({ minLength: 1 })),
            timeout: duration(),
            spaceDelimitedClaims: arr(str({ minLength: 1 }), { maxItems: 64 }),
            presence: enumOf(['REQUIRED', 'OPTIONAL']),
          },
          {
            rules: [
              {
                message: 'only one of jwks or jwksUri can be set',
                cel: '(has(self.jwksUri) ? 1 : 0) + (has(self.jwks_uri) ? 1 : 0) + (has(self.jwks) ? 1 : 0) <= 1',
                test: (v) =>
                  (has(v, 'jwksUri') ? 1 : 0) + (has(v, 'jwks_uri') ? 1 : 0) + (has(v, 'jwks') ? 1 : 0) <= 1,
              },
            ],
          },
        ),
        { maxItems: 4096 },
      ),
    },
    { rules: [selectorOrTargets(['selector', 'targetRef', 'targetRefs'])] },
  );
