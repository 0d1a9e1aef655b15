// Fixtures several e2e specs share.

/** Mixer config (the done-when of issue 6): a denier handler, a checknothing instance and a rule on a header. */
export const DENY_BANNED = `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata:
  name: denyall
  namespace: istio-system
spec:
  compiledAdapter: denier
  params:
    status:
      code: 7
      message: user is banned
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: denyrequest
  namespace: istio-system
spec:
  compiledTemplate: checknothing
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: denybanned
  namespace: istio-system
spec:
  match: request.headers["x-user"] == "banned"
  actions:
  - handler: denyall
    instances: [denyrequest]
`;

const identity = (b: Buffer) => b;

/**
 * A one-method gRPC service over raw bytes: test backends answer with who they are, so a client's calls show
 * where the mesh routed them.
 */
export const WHO_SERVICE = {
  who: {
    path: '/flotilla.test.Who/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
