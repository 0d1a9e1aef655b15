import { labelSelectorMatches } from './label-selector';

describe('labelSelectorMatches', () => {
  it('treats an absent selector as matching everything', () => {
    expect(labelSelectorMatches(undefined, {})).toBe(true);
  });

  it('applies matchLabels and every matchExpressions operator', () => {
    const selector = {
      matchLabels: { app: 'a' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['web', 'api'] },
        { key: 'env', operator: 'NotIn', values: ['prod'] },
        { key: 'team', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    };
    expect(labelSelectorMatches(selector, { app: 'a', tier: 'web', team: 'x' })).toBe(true);
    expect(labelSelectorMatches(selector, { app: 'b', tier: 'web', team: 'x' })).toBe(false);
    expect(labelSelectorMatches(selector, { app: 'a', tier: 'db', team: 'x' })).toBe(false);
    expect(labelSelectorMatches(selector, { app: 'a', tier: 'web', team: 'x', env: 'prod' })).toBe(false);
    expect(labelSelectorMatches(selector, { app: 'a', tier: 'web' })).toBe(false);
    expect(labelSelectorMatches(selector, { app: 'a', tier: 'web', team: 'x', legacy: '1' })).toBe(false);
  });

  it('matches nothing with an operator Kubernetes would reject', () => {
    expect(labelSelectorMatches({ matchExpressions: [{ key: 'a', operator: 'Like' }] }, { a: '1' })).toBe(
      false,
    );
  });
});
