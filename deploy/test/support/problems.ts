/**
 * Collects every problem a test finds instead of stopping at the first, each naming the file, the object
 * and the field: `deploy/k8s/base/pilot/deployment.yaml: Deployment/pilot: spec.replicas: must be ...`.
 * Tests end with `expect(problems.list).toEqual([])`, so a failure prints the whole list.
 */
export class Problems {
  readonly list: string[] = [];

  add(where: string, field: string, message: string): void {
    this.list.push(field ? `${where}: ${field}: ${message}` : `${where}: ${message}`);
  }

  /** Adds a problem unless `actual` equals `expected` (compared as JSON). */
  expectEqual(where: string, field: string, actual: unknown, expected: unknown): void {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      this.add(where, field, `expected ${JSON.stringify(expected)}, found ${JSON.stringify(actual)}`);
    }
  }
}

/** `/spec/template/spec/containers/0/ports/1` → `spec.template.spec.containers[0].ports[1]`. */
export function fieldPathOf(pointer: string): string {
  return pointer
    .split('/')
    .filter((part) => part !== '')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}
