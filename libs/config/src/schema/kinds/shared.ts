// Schema pieces shared by several Istio kinds.
import { durationAtLeast1ms, isDuration } from '../../validate/common/durations';
import { any, arr, atMostOne, boolValue, enumOf, i32, int, map, obj, str, strings, u32 } from '../build';
import type { Obj, Rule, Schema, StringSchema } from '../types';

export const durationRule: Rule<string> = {
  message: 'must be a valid duration greater than 1ms',
  cel: "duration(self) >= duration('1ms')",
  test: durationAtLeast1ms,
};

const parsesAsDuration: Rule<string> = {
  message: 'must be a valid duration',
  cel: "duration(self) >= duration('0s')",
  test: isDuration,
};

/** A google.protobuf.Duration the CRD requires to be at least 1ms. */
export const duration = (): StringSchema => str({ rules: [durationRule] });
/** A google.protobuf.Duration with no lower bound in the CRD. */
export const anyDuration = (): StringSchema => str({ rules: [parsesAsDuration] });

export const portRangeRule: Rule<number> = {
  message: 'port must be between 1-65535',
  cel: '0 < self && self <= 65535',
  test: (v) => v > 0 && v <= 65535,
};
/** A port number the CRD requires to be in 1..65535. */
export const port = (): Schema => u32({ rules: [portRangeRule] });

const noWildcardValue: Rule<string> = {
  message: 'wildcard not allowed in label value match',
  cel: '!self.contains("*")',
  test: (v) => !v.includes('*'),
};

/** istio.type.v1beta1.WorkloadSelector */
export const workloadSelector = (): Schema =>
  obj({
    matchLabels: map(str({ maxLength: 63, rules: [noWildcardValue] }), {
      maxProperties: 4096,
      rules: [
        {
          message: 'wildcard not allowed in label key match',
          cel: 'self.all(key, !key.contains("*"))',
          test: (v) => Object.keys(v).every((k) => !k.includes('*')),
        },
        {
          message: 'key must not be empty',
          cel: 'self.all(key, key.size() != 0)',
          test: (v) => Object.keys(v).every((k) => k.length !== 0),
        },
      ],
    }),
  });

/** networking.v1alpha3.WorkloadSelector (Sidecar, ServiceEntry, EnvoyFilter, DestinationRule) */
export const alphaWorkloadSelector = (): Schema =>
  obj({
    labels: map(
      str({
        maxLength: 63,
        rules: [
          {
            message: 'wildcard is not supported in selector',
            cel: '!self.contains("*")',
            test: (v) => !v.includes('*'),
          },
        ],
      }),
      { maxProperties: 256 },
    ),
  });

/** istio.type.v1beta1.PolicyTargetReference */
export const targetRef = (): Schema =>
  obj(
    {
      group: str({
        maxLength: 253,
        pattern: '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
      }),
      kind: str({ minLength: 1, maxLength: 63, pattern: '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$' }),
      name: str({ minLength: 1, maxLength: 253 }),
      namespace: str({
        rules: [
          {
            message: 'cross namespace referencing is not currently supported',
            cel: 'self.size() == 0',
            test: (v) => v.length === 0,
          },
        ],
      }),
    },
    { required: ['kind', 'name'] },
  );
export const targetRefs = (): Schema => arr(targetRef(), { maxItems: 16 });

export const selectorOrTargets = (fields: readonly string[]): Rule<Obj> =>
  atMostOne(fields, 'only one of targetRefs or selector can be set');

export const portSelector = (): Schema => obj({ number: u32() });

export const destination = (): Schema =>
  obj({ host: str(), subset: str(), port: portSelector() }, { required: ['host'] });

/** networking ClientTLSSettings */
export const clientTLS = (): Schema =>
  obj({
    mode: enumOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']),
    clientCertificate: str(),
    privateKey: str(),
    caCertificates: str(),
    credentialName: str(),
    subjectAltNames: strings(),
    sni: str(),
    insecureSkipVerify: boolValue(),
    caCrl: str(),
  });

/** networking ServerTLSSettings */
export const serverTLS = (): Schema =>
  obj(
    {
      httpsRedirect: { type: 'boolean' },
      mode: enumOf([
        'PASSTHROUGH',
        'SIMPLE',
        'MUTUAL',
        'AUTO_PASSTHROUGH',
        'ISTIO_MUTUAL',
        'OPTIONAL_MUTUAL',
      ]),
      serverCertificate: str(),
      privateKey: str(),
      caCertificates: str(),
      caCrl: str(),
      credentialName: str(),
      credentialNames: strings({ minItems: 1, maxItems: 2 }),
      caCertCredentialName: str(),
      tlsCertificates: arr(obj({ serverCertificate: str(), privateKey: str(), caCertificates: str() }), {
        minItems: 1,
        maxItems: 2,
      }),
      subjectAltNames: strings(),
      verifyCertificateSpki: strings(),
      verifyCertificateHash: strings(),
      minProtocolVersion: enumOf(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']),
      maxProtocolVersion: enumOf(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']),
      cipherSuites: strings(),
      ecdhCurves: strings(),
      insecureSkipVerify: boolValue(),
    },
    {
      rules: [
        atMostOne(
          ['tlsCertificates', 'credentialNames'],
          'only one of credentialNames or tlsCertificates can be set',
        ),
        atMostOne(
          ['credentialName', 'credentialNames'],
          'only one of credentialName or credentialNames can be set',
        ),
      ],
    },
  );

export const connectionPool = (): Schema =>
  obj({
    tcp: obj({
      maxConnections: i32(),
      connectTimeout: duration(),
      tcpKeepalive: obj({ probes: u32(), time: duration(), interval: duration() }),
      maxConnectionDuration: duration(),
      idleTimeout: anyDuration(),
    }),
    http: obj({
      http1MaxPendingRequests: i32(),
      http2MaxRequests: i32(),
      maxRequestsPerConnection: i32(),
      maxRetries: i32(),
      idleTimeout: duration(),
      h2UpgradePolicy: enumOf(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']),
      useClientProtocol: { type: 'boolean' },
      maxConcurrentStreams: i32(),
      http2KeepAlive: obj({ interval: duration(), timeout: duration() }),
    }),
  });

export const stringMatch = (): Schema =>
  obj({ exact: str(), prefix: str(), regex: str() }, { oneOf: [['exact', 'prefix', 'regex']] });

export const headerOperations = (): Schema => obj({ set: map(str()), add: map(str()), remove: strings() });

export const headers = (): Schema => obj({ request: headerOperations(), response: headerOperations() });

export const percent = (): Schema => obj({ value: { type: 'number' } });

export const status = (): Schema => any();

export const intValue = (): Schema => int({ nullable: true });
