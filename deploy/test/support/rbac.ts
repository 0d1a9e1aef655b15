/**
 * Whether RBAC rules allow one request, as the API server's RBAC authorizer decides for the core API group: some
 * rule names the verb and the resource, and either names no resourceNames or names the object asked for.
 */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

export function allows(rules: readonly PolicyRule[], verb: string, resource: string, name?: string): boolean {
  return rules.some(
    (rule) =>
      (rule.apiGroups ?? []).some((g) => g === '' || g === '*') &&
      (rule.resources ?? []).some((r) => r === resource || r === '*') &&
      rule.verbs.some((v) => v === verb || v === '*') &&
      (!rule.resourceNames?.length || (name !== undefined && rule.resourceNames.includes(name))),
  );
}
