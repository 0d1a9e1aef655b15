import { packAny } from './any';
import { HttpProtocolOptions } from './gen/envoy/extensions/upstreams/http/v3/http_protocol_options';
import type { Any } from './gen/google/protobuf/any';

/** The key of upstream HTTP protocol options in a cluster's typed_extension_protocol_options. */
export const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Connection settings of upstream HTTP: idle timeout, max requests per connection, max connection duration. */
export type CommonHttpOptions = Parameters<
  typeof HttpProtocolOptions.fromPartial
>[0]['commonHttpProtocolOptions'];

/**
 * HTTP/2 to the upstream (gRPC needs it), with connection settings when given, as a cluster's
 * typed_extension_protocol_options.
 */
export function http2ProtocolOptions(common: CommonHttpOptions = undefined): Record<string, Any> {
  return {
    [HTTP_PROTOCOL_OPTIONS]: packAny(
      HttpProtocolOptions,
      HttpProtocolOptions.fromPartial({
        commonHttpProtocolOptions: common,
        explicitHttpConfig: { http2ProtocolOptions: {} },
      }),
    ),
  };
}
