import { serviceAccountOfToken } from './pilot';

const jwt = (payload: object) =>
  ['{"alg":"RS256"}', JSON.stringify(payload)].map((p) => Buffer.from(p).toString('base64url')).join('.') +
  '.sig';

describe("pilot's identity for the secure xDS port", () => {
  it("is the service account a Kubernetes token's sub names", () => {
    expect(serviceAccountOfToken(jwt({ sub: 'system:serviceaccount:flotilla-system:pilot' }))).toEqual({
      namespace: 'flotilla-system',
      serviceAccount: 'pilot',
    });
  });

  it('refuses anything that is not a service-account token, saying which flag', () => {
    expect(() => serviceAccountOfToken(jwt({ sub: 'alice' }))).toThrow('--citadel-token-file');
    expect(() => serviceAccountOfToken('not a jwt')).toThrow('not a service-account token');
  });
});
