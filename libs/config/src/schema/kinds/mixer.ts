// config.istio.io/v1alpha2 kinds from Istio 1.4's Mixer: handler, instance, rule, attributemanifest.
import { any, arr, enumOf, map, obj, str, strings } from '../build';
import type { Schema } from '../types';

export const handlerSpec = (): Schema =>
  obj({
    name: str(),
    adapter: str(),
    compiledAdapter: str(),
    params: any(),
    connection: obj({ address: str(), timeout: str(), authentication: any() }),
  });

export const instanceSpec = (): Schema =>
  obj({
    name: str(),
    template: str(),
    compiledTemplate: str(),
    params: any(),
    attributeBindings: map(str()),
  });

const headerOperation = (): Schema =>
  obj({ name: str(), values: strings(), operation: enumOf(['REPLACE', 'REMOVE', 'APPEND']) });

export const ruleSpec = (): Schema =>
  obj({
    match: str(),
    actions: arr(obj({ handler: str(), instances: strings(), name: str() })),
    requestHeaderOperations: arr(headerOperation()),
    responseHeaderOperations: arr(headerOperation()),
    sampling: any(),
  });

const VALUE_TYPES = [
  'VALUE_TYPE_UNSPECIFIED',
  'STRING',
  'INT64',
  'DOUBLE',
  'BOOL',
  'TIMESTAMP',
  'IP_ADDRESS',
  'EMAIL_ADDRESS',
  'URI',
  'DNS_NAME',
  'DURATION',
  'STRING_MAP',
];

export const attributeManifestSpec = (): Schema =>
  obj({
    revision: str(),
    name: str(),
    attributes: map(obj({ description: str(), valueType: enumOf(VALUE_TYPES) })),
  });
