import { createFileRegistry, fromBinary, getOption, hasOption } from '@bufbuild/protobuf';
import type { DescExtension, DescField, DescMessage, FileRegistry } from '@bufbuild/protobuf';
import { reflect } from '@bufbuild/protobuf/reflect';
import type { ReflectMessage } from '@bufbuild/protobuf/reflect';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { lookupType, readDescriptorSet } from '@flotilla/proto';
import { checkScalar, durationNanos, checkDuration, checkRepeatedCount, checkMapCount } from './rules';
import type { FieldRules, Violation } from './rules';

/** A message packed in google.protobuf.Any, as ts-proto and the xDS libraries hold it. */
export interface PackedMessage {
  typeUrl: string;
  value: Uint8Array;
}

const WRAPPER_TYPES = new Set([
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** A field's value by its proto name (the reflection API keys fields by their TypeScript names). */
function fieldValue(m: ReflectMessage, protoName: string): unknown {
  const field = m.desc.fields.find((f) => f.name === protoName);
  if (!field) throw new Error(`${m.desc.typeName} has no field ${protoName}`);
  return m.get(field);
}

function fieldPath(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

/**
 * Checks messages against the protoc-gen-validate rules their protos carry, the way the C++ validators Envoy
 * generates from them do when it accepts a resource (`MessageUtil::validate`): every field's
 * `(validate.rules)`, every oneof's `(validate.required)`, embedded messages recursively unless a message is
 * `(validate.disabled)` or a field says `message.skip`. Unlike PGV itself it also descends into every
 * google.protobuf.Any (typed_config), because Envoy validates an extension's config when it instantiates it;
 * an Any whose type the descriptor set does not know is a violation, since Envoy would reject it too.
 *
 * Every violation is collected with its field path in proto field names
 * (`filter_chains[1].filters[0].typed_config.http_filters[2].name`) instead of stopping at the first.
 */
export class RuleChecker {
  private readonly rulesExt: DescExtension | undefined;
  private readonly oneofRequiredExt: DescExtension | undefined;
  private readonly disabledExt: DescExtension | undefined;
  private readonly ignoredExt: DescExtension | undefined;
  private readonly rulesByField = new Map<DescField, FieldRules | null>();

  constructor(private readonly registry: FileRegistry) {
    this.rulesExt = registry.getExtension('validate.rules');
    this.oneofRequiredExt = registry.getExtension('validate.required');
    this.disabledExt = registry.getExtension('validate.disabled');
    this.ignoredExt = registry.getExtension('validate.ignored');
    if (!this.rulesExt)
      throw new Error('the descriptor set has no validate.rules extension (validate.proto)');
  }

  /** A checker over a serialized google.protobuf.FileDescriptorSet that includes validate/validate.proto. */
  static fromDescriptorSet(bytes: Uint8Array): RuleChecker {
    return new RuleChecker(createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes)));
  }

  /** Whether the descriptor set knows the message type a type URL names. */
  knows(typeUrl: string): boolean {
    return this.registry.getMessage(typeNameOf(typeUrl)) !== undefined;
  }

  /** Checks an Any (an xDS resource as pilot sends it); `path` prefixes every violation's field path. */
  checkAny(any: PackedMessage, path = ''): Violation[] {
    return this.checkBytes(any.typeUrl, any.value, path);
  }

  /** Checks the encoding of a message of the type `typeUrl` names. */
  checkBytes(typeUrl: string, bytes: Uint8Array, path = ''): Violation[] {
    const out: Violation[] = [];
    this.walkPacked(typeUrl, bytes, path, out);
    return out;
  }

  /** Checks a message decoded by the generated (ts-proto) code, by encoding it again. */
  checkMessage(typeUrl: string, message: object, path = ''): Violation[] {
    const type = lookupType(typeUrl);
    if (!type) return [{ path, rule: 'any.resolvable', message: `unknown message type ${typeUrl}` }];
    return this.checkBytes(typeUrl, type.encode(message).finish(), path);
  }

  private walkPacked(typeUrl: string, bytes: Uint8Array, path: string, out: Violation[]): void {
    const desc = this.registry.getMessage(typeNameOf(typeUrl));
    if (!desc) {
      out.push({ path, rule: 'any.resolvable', message: `unknown message type ${typeUrl}` });
      return;
    }
    let message;
    try {
      message = fromBinary(desc, bytes);
    } catch (err) {
      out.push({
        path,
        rule: 'wire',
        message: `does not decode as ${desc.typeName}: ${(err as Error).message}`,
      });
      return;
    }
    this.walkMessage(reflect(desc, message), path, out);
  }

  private fieldRules(field: DescField): FieldRules | undefined {
    let rules = this.rulesByField.get(field);
    if (rules === undefined) {
      rules =
        this.rulesExt && hasOption(field, this.rulesExt)
          ? (getOption(field, this.rulesExt) as unknown as FieldRules)
          : null;
      this.rulesByField.set(field, rules);
    }
    return rules ?? undefined;
  }

  private messageDisabled(desc: DescMessage): boolean {
    for (const ext of [this.disabledExt, this.ignoredExt]) {
      if (ext && hasOption(desc, ext) && getOption(desc, ext) === true) return true;
    }
    return false;
  }

  private walkMessage(m: ReflectMessage, path: string, out: Violation[]): void {
    const desc = m.desc;
    if (this.messageDisabled(desc)) return;
    if (desc.typeName === 'google.protobuf.Any') {
      const typeUrl = fieldValue(m, 'type_url') as string;
      const value = fieldValue(m, 'value') as Uint8Array;
      this.walkPacked(typeUrl, value, path, out);
      return;
    }
    for (const oneof of desc.oneofs) {
      const required = this.oneofRequiredExt && hasOption(oneof, this.oneofRequiredExt);
      if (required && getOption(oneof, this.oneofRequiredExt!) === true && !m.oneofCase(oneof)) {
        out.push({
          path: fieldPath(path, oneof.name),
          rule: 'oneof.required',
          message: `one of ${oneof.fields.map((f) => f.name).join(', ')} must be set`,
        });
      }
    }
    for (const field of desc.fields) {
      // A oneof member, or a proto3 `optional` scalar, has rules only when it is set.
      const explicitPresence =
        field.oneof !== undefined || (field.fieldKind === 'scalar' && field.presence === 1);
      if (explicitPresence && !m.isSet(field)) continue;
      this.checkField(m, field, fieldPath(path, field.name), out);
    }
  }

  private checkField(m: ReflectMessage, field: DescField, path: string, out: Violation[]): void {
    const rules = this.fieldRules(field);
    switch (field.fieldKind) {
      case 'list': {
        const list = m.get(field);
        const repeated = rules?.type?.case === 'repeated' ? rules.type.value : undefined;
        if (repeated?.ignoreEmpty && list.size === 0) return;
        if (repeated) checkRepeatedCount(repeated, list.size, path, out);
        const items = repeated?.items;
        const seen = new Set<unknown>();
        let index = 0;
        for (const item of list) {
          const itemPath = `${path}[${index++}]`;
          if (repeated?.unique && field.listKind !== 'message') {
            const key = item instanceof Uint8Array ? Buffer.from(item).toString('hex') : item;
            if (seen.has(key))
              out.push({ path: itemPath, rule: 'repeated.unique', message: 'repeated value' });
            seen.add(key);
          }
          if (field.listKind === 'message') {
            this.checkMessageValue(item as ReflectMessage, true, items, itemPath, out);
          } else if (items) {
            checkScalar(items, item, field.enum, itemPath, out);
          }
        }
        return;
      }
      case 'map': {
        const map = m.get(field);
        const mapRules = rules?.type?.case === 'map' ? rules.type.value : undefined;
        if (mapRules?.ignoreEmpty && map.size === 0) return;
        if (mapRules) checkMapCount(mapRules, map.size, path, out);
        for (const [key, value] of map) {
          const entryPath = `${path}[${JSON.stringify(String(key))}]`;
          if (mapRules?.keys) checkScalar(mapRules.keys, key, undefined, `${entryPath}.key`, out);
          if (field.mapKind === 'message') {
            this.checkMessageValue(value as ReflectMessage, true, mapRules?.values, entryPath, out);
          } else if (mapRules?.values) {
            checkScalar(mapRules.values, value, field.enum, entryPath, out);
          }
        }
        return;
      }
      case 'message':
        this.checkMessageValue(m.get(field), m.isSet(field), rules, path, out);
        return;
      default:
        if (rules) checkScalar(rules, m.get(field), field.enum, path, out);
    }
  }

  /** An embedded message: `message.required`, the rules of wrappers, Any and Duration, then its own fields. */
  private checkMessageValue(
    value: ReflectMessage,
    isSet: boolean,
    rules: FieldRules | undefined,
    path: string,
    out: Violation[],
  ): void {
    const typeRules = rules?.type;
    if (!isSet) {
      const required =
        rules?.message?.required ||
        (typeRules?.case === 'any' && typeRules.value.required) ||
        (typeRules?.case === 'duration' && typeRules.value.required) ||
        (typeRules?.case === 'timestamp' && typeRules.value.required);
      if (required) out.push({ path, rule: 'message.required', message: 'value is required' });
      return;
    }
    if (rules?.message?.skip) return;
    const typeName = value.desc.typeName;
    if (WRAPPER_TYPES.has(typeName) && typeRules) {
      checkScalar(rules!, fieldValue(value, 'value'), undefined, path, out);
    } else if (typeName === 'google.protobuf.Any' && typeRules?.case === 'any') {
      const typeUrl = fieldValue(value, 'type_url') as string;
      const { in: allowed, notIn } = typeRules.value;
      if (allowed.length > 0 && !allowed.includes(typeUrl)) {
        out.push({ path, rule: 'any.in', message: `type URL ${typeUrl} not in [${allowed.join(', ')}]` });
      }
      if (notIn.includes(typeUrl))
        out.push({ path, rule: 'any.not_in', message: `type URL ${typeUrl} not allowed` });
    } else if (typeName === 'google.protobuf.Duration' && typeRules?.case === 'duration') {
      const nanos = durationNanos(
        fieldValue(value, 'seconds') as bigint,
        fieldValue(value, 'nanos') as number,
      );
      checkDuration(typeRules.value, nanos, path, out);
    }
    this.walkMessage(value, path, out);
  }
}

let defaultChecker: RuleChecker | undefined;

/** The checker over @flotilla/proto's descriptor set (every Envoy proto pilot generates), built once. */
export function envoyRuleChecker(): RuleChecker {
  defaultChecker ??= RuleChecker.fromDescriptorSet(readDescriptorSet());
  return defaultChecker;
}
