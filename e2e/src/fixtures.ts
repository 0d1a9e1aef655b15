// Fixtures several e2e specs share.
import * as grpc from '@grpc/grpc-js';

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

/** One Who call with the given request headers: the answering backend's name, or the failure's status name. */
export function callWho(client: grpc.Client, headers: Record<string, string> = {}): Promise<string> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      WHO_SERVICE.who.path,
      WHO_SERVICE.who.requestSerialize,
      WHO_SERVICE.who.responseDeserialize,
      Buffer.alloc(0),
      metadata,
      { deadline: Date.now() + 5_000 },
      (e, r) => resolve(e ? `error:${grpc.status[e.code]}` : r!.toString()),
    ),
  );
}
