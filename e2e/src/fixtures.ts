// Fixtures several e2e specs share.
import * as grpc from '@grpc/grpc-js';
import { callWho as whoCall } from '@flotilla/testing';

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

/** The Who test service (libs/testing): backends answer with their names, so calls show where the mesh routed them. */
export { WHO_SERVICE } from '@flotilla/testing';

/** One Who call with the given request headers: the answering backend's name, or the failure's status name. */
export function callWho(client: grpc.Client, headers: Record<string, string> = {}): Promise<string> {
  return whoCall(client, headers).catch((e: grpc.ServiceError) => `error:${grpc.status[e.code]}`);
}
