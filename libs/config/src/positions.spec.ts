import { parseText } from './parse';
import { locate } from './positions';

const text = `apiVersion: v1
kind: X
metadata:
  name: a
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: b
spec:
  http:
  - route:
    - destination: {host: c}
      weight: -1
`;

describe('locate', () => {
  const { resources } = parseText(text, 'f.yaml');
  const vs = resources[1];

  it('finds the line and column of a field in a later document', () => {
    expect(locate(vs.source, 'spec.http[0].route[0].weight')).toEqual({ line: 14, column: 7 });
  });

  it('points at the nearest existing parent for a missing field', () => {
    expect(locate(vs.source, 'spec.hosts')).toEqual({ line: 10, column: 1 });
  });
});
