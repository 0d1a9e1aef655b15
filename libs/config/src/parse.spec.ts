import { parseText, quoteFlowColonScalars } from './parse';

describe('parseText', () => {
  it('reads every document of a YAML stream with its index', () => {
    const { resources, problems } = parseText(
      'apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: x}\n',
      'f.yaml',
    );
    expect(problems).toEqual([]);
    expect(resources.map((r) => [r.name, r.namespace, r.source.index, r.source.lineOffset])).toEqual([
      ['a', '', 0, 0],
      ['b', 'x', 1, 5],
    ]);
  });

  it('reads JSON objects and arrays', () => {
    const { resources } = parseText(
      '[{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}}]',
      'f.json',
    );
    expect(resources.map((r) => r.name)).toEqual(['a']);
  });

  it('expands List documents into their items', () => {
    const { resources } = parseText(
      'apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n',
      'f.yaml',
    );
    expect(resources.map((r) => [r.kind, r.name, r.source.itemPath])).toEqual([['Pod', 'p', ['items', 0]]]);
  });

  it('reports malformed YAML with the document index and line', () => {
    const { problems } = parseText('apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\nb: [1\n', 'f.yaml');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'f.yaml', index: 1 });
    expect(problems[0].message).toMatch(/^invalid YAML/);
  });

  it('refuses hostile nesting in YAML and JSON alike, and keeps the other documents', () => {
    const head =
      '{"apiVersion":"networking.istio.io/v1alpha3","kind":"EnvoyFilter","metadata":{"name":"x"},"spec":';
    const nested = (depth: number) => `${head}{"v":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const json = parseText(`[${nested(50_000)}, ${nested(20)}]`, 'deep.json');
    expect(json.problems).toEqual([
      { file: 'deep.json', index: 0, message: 'invalid JSON: nesting exceeded maxDepth (100)' },
    ]);
    expect(json.resources.map((r) => r.source.index)).toEqual([1]);
    const yaml = parseText(`spec: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`, 'deep.yaml');
    expect(yaml.problems[0].message).toContain('nesting exceeded maxDepth (100)');
  });

  it('rejects duplicated keys', () => {
    const { problems } = parseText('apiVersion: v1\napiVersion: v2\n', 'f.yaml');
    expect(problems[0].message).toContain('already set');
  });

  it('reports documents that are not objects or lack apiVersion, kind or metadata.name', () => {
    const { problems } = parseText('- 1\n---\nkind: Service\nmetadata: {}\n', 'f.yaml');
    expect(problems.map((p) => [p.index, p.message])).toEqual([
      [0, 'is a list, not a Kubernetes object'],
      [1, 'missing apiVersion, metadata.name'],
    ]);
  });

  it('reads a flow-sequence item ending in a colon as a string, as Kubernetes does', () => {
    expect(quoteFlowColonScalars('addresses: [1.2.3.4, 2001:db8::]')).toBe(
      'addresses: [1.2.3.4, "2001:db8::"]',
    );
    const { resources } = parseText(
      'apiVersion: v1\nkind: X\nmetadata: {name: a}\nspec: {addresses: [2001:db8::]}\n',
      'f.yaml',
    );
    expect(resources[0].object.spec).toEqual({ addresses: ['2001:db8::'] });
  });
});
