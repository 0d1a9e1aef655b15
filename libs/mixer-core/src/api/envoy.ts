/**
 * The Envoy-native APIs sidecars call today, answered by mixer's runtime:
 *   envoy.service.auth.v3.Authorization/Check                → Check (request attributes → Mixer attributes)
 *   envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit → Quota (domain + descriptors → quota instances)
 *   envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs → Report (HTTP and TCP entries → attribute sets)
 */
import { Code, parseIp } from '@flotilla/mixer-adapter-sdk';
import type { Value } from '@flotilla/mixer-adapter-sdk';
import { accessLogService, externalAuth, rateLimitService } from '@flotilla/proto';
import type { ServerReadableStream, ServiceError, sendUnaryData } from '@grpc/grpc-js';
import type { AttributeManifest } from '../attributes/manifest';
import type { MixerRuntime } from '../dispatch/runtime';
import { BackendUnavailableError, BadRequestError, toServiceError, unary } from './errors';
import type { ErrorLogger } from './errors';

type Bag = Map<string, Value>;

interface SocketAddressLike {
  socketAddress?: { address?: string; portValue?: number };
}

function setIp(bag: Bag, name: string, addr: SocketAddressLike | undefined, portName?: string): void {
  const sa = addr?.socketAddress;
  if (!sa) return;
  const ip = sa.address ? parseIp(sa.address) : undefined;
  if (ip) bag.set(name, ip);
  if (portName && sa.portValue) bag.set(portName, sa.portValue);
}

function lowerKeys(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

function setString(bag: Bag, name: string, v: string | undefined): void {
  if (v) bag.set(name, v);
}

function protocolOf(headers: Record<string, string>, fallback: string): string {
  return (headers['content-type'] ?? '').startsWith('application/grpc') ? 'grpc' : fallback;
}

/** "outbound|9080||reviews.default.svc.cluster.local" → "reviews.default.svc.cluster.local". */
function hostOfCluster(cluster: string): string | undefined {
  const parts = cluster.split('|');
  return parts.length === 4 && parts[3] ? parts[3] : undefined;
}

/**
 * ext_authz AttributeContext → Mixer attributes: peers (ip, port, principal, labels), the HTTP request (id,
 * method, path, host, scheme, size, headers lower-cased, user agent, referer), the TLS SNI, and context
 * extensions whose keys are STRING attributes of the manifest (how a route can name destination.service.host).
 */
export function attributesOfAuthzCheck(
  req: externalAuth.CheckRequest,
  manifest: AttributeManifest,
  now = new Date(),
): Bag {
  const bag: Bag = new Map();
  const a = req.attributes;
  if (!a) throw new BadRequestError('CheckRequest.attributes is required');
  setIp(bag, 'source.ip', a.source?.address);
  setString(bag, 'source.principal', a.source?.principal);
  if (a.source && Object.keys(a.source.labels ?? {}).length) bag.set('source.labels', { ...a.source.labels });
  setIp(bag, 'destination.ip', a.destination?.address, 'destination.port');
  setString(bag, 'destination.principal', a.destination?.principal);
  if (a.destination && Object.keys(a.destination.labels ?? {}).length)
    bag.set('destination.labels', { ...a.destination.labels });
  const http = a.request?.http;
  if (http) {
    const headers = lowerKeys(http.headers);
    bag.set('request.headers', headers);
    setString(bag, 'request.id', http.id || headers['x-request-id']);
    setString(bag, 'request.method', http.method || headers[':method']);
    const path = http.path || headers[':path'];
    setString(bag, 'request.path', path);
    if (path) bag.set('request.url_path', path.split('?')[0]);
    setString(bag, 'request.host', http.host || headers[':authority']);
    setString(bag, 'request.scheme', http.scheme || headers[':scheme']);
    setString(bag, 'request.useragent', headers['user-agent']);
    setString(bag, 'request.referer', headers['referer']);
    if (typeof http.size === 'number' && http.size >= 0) bag.set('request.size', http.size);
    bag.set('context.protocol', protocolOf(headers, 'http'));
  } else {
    bag.set('context.protocol', 'tcp');
  }
  if (a.request?.time) bag.set('request.time', a.request.time);
  setString(bag, 'connection.requested_server_name', a.tlsSession?.sni);
  for (const [k, v] of Object.entries(a.contextExtensions ?? {})) {
    if (manifest.typeOf(k) === 'STRING' && !bag.has(k)) bag.set(k, v);
  }
  bag.set('context.reporter.kind', 'inbound');
  bag.set('context.time', now);
  return bag;
}

const HTTP_FOR_CODE: Readonly<Record<number, number>> = {
  [Code.UNAUTHENTICATED]: 401,
  [Code.RESOURCE_EXHAUSTED]: 429,
  [Code.UNAVAILABLE]: 503,
  [Code.INTERNAL]: 500,
};

export function authorizationCheckHandler(runtime: MixerRuntime) {
  return async (req: externalAuth.CheckRequest): Promise<externalAuth.CheckResponse> => {
    const bag = attributesOfAuthzCheck(req, runtime.snapshot.manifest);
    const outcome = await runtime.check(bag);
    if (outcome.status.code !== Code.OK) {
      const message = outcome.status.message || 'denied by mixer policy';
      return externalAuth.CheckResponse.fromPartial({
        status: { code: outcome.status.code, message },
        deniedResponse: {
          status: { code: HTTP_FOR_CODE[outcome.status.code] ?? 403 },
          headers: [{ header: { key: 'content-type', value: 'text/plain' }, append: false }],
          body: message,
        },
      });
    }
    const req2 = outcome.requestHeaderOperations;
    return externalAuth.CheckResponse.fromPartial({
      status: { code: Code.OK, message: '' },
      okResponse: {
        headers: req2
          .filter((op) => op.operation !== 'REMOVE')
          .map((op) => ({ header: { key: op.name, value: op.value }, append: op.operation === 'APPEND' })),
        headersToRemove: req2.filter((op) => op.operation === 'REMOVE').map((op) => op.name),
        responseHeadersToAdd: outcome.responseHeaderOperations
          .filter((op) => op.operation !== 'REMOVE')
          .map((op) => ({ header: { key: op.name, value: op.value }, append: op.operation === 'APPEND' })),
      },
    });
  };
}

const UNITS: [number, rateLimitService.RateLimitResponse_RateLimit_Unit][] = [
  [1000, rateLimitService.RateLimitResponse_RateLimit_Unit.SECOND],
  [60_000, rateLimitService.RateLimitResponse_RateLimit_Unit.MINUTE],
  [3_600_000, rateLimitService.RateLimitResponse_RateLimit_Unit.HOUR],
  [86_400_000, rateLimitService.RateLimitResponse_RateLimit_Unit.DAY],
];

/** A limit per window → Envoy's (requests per unit, unit), scaled to the unit nearest the window. */
export function rateLimitOf(
  limit: number,
  windowMs: number | undefined,
  name: string,
): rateLimitService.RateLimitResponse_RateLimit {
  const w = windowMs && windowMs > 0 ? windowMs : 1000;
  const [unitMs, unit] = UNITS.reduce((best, u) =>
    Math.abs(Math.log(u[0] / w)) < Math.abs(Math.log(best[0] / w)) ? u : best,
  );
  return rateLimitService.RateLimitResponse_RateLimit.fromPartial({
    name,
    requestsPerUnit: Math.max(0, Math.floor((limit * unitMs) / w)),
    unit,
  });
}

const MAX_DESCRIPTORS = 64;

/**
 * ShouldRateLimit: each descriptor is a quota allocation of `hits_addend` (default 1) from the quota instance named
 * by the domain. The descriptor's entries are the attribute `ratelimit.descriptor` (key → value) and, where an
 * entry's key is a STRING attribute of the manifest, that attribute; `ratelimit.domain` is the domain. Any
 * descriptor over its limit makes the overall answer OVER_LIMIT, with the limit and the time until reset.
 */
export function shouldRateLimitHandler(runtime: MixerRuntime) {
  return async (req: rateLimitService.RateLimitRequest): Promise<rateLimitService.RateLimitResponse> => {
    if (!req.domain) throw new BadRequestError('RateLimitRequest.domain is required');
    if (req.descriptors.length > MAX_DESCRIPTORS)
      throw new BadRequestError(`at most ${MAX_DESCRIPTORS} descriptors`);
    const amount = req.hitsAddend > 0 ? req.hitsAddend : 1;
    const manifest = runtime.snapshot.manifest;
    const statuses = await Promise.all(
      req.descriptors.map(async (d, i) => {
        const bag: Bag = new Map();
        bag.set('ratelimit.domain', req.domain);
        const entries: Record<string, string> = Object.create(null);
        for (const e of d.entries ?? []) {
          if (!e.key) throw new BadRequestError(`descriptors[${i}]: an entry needs a key`);
          entries[e.key] = e.value;
          if (manifest.typeOf(e.key) === 'STRING') bag.set(e.key, e.value);
        }
        bag.set('ratelimit.descriptor', entries);
        bag.set('context.time', new Date());
        const result = await runtime.quota(bag, req.domain, {
          amount,
          bestEffort: false,
          deduplicationId: '',
        });
        if (result.status.code !== Code.OK && result.status.code !== Code.RESOURCE_EXHAUSTED)
          throw new BackendUnavailableError(`rate limit ${req.domain}: ${result.status.message}`);
        const over = result.amount < amount;
        const name = Object.entries(entries)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        return rateLimitService.RateLimitResponse_DescriptorStatus.fromPartial({
          code: over
            ? rateLimitService.RateLimitResponse_Code.OVER_LIMIT
            : rateLimitService.RateLimitResponse_Code.OK,
          currentLimit:
            result.limit !== undefined ? rateLimitOf(result.limit, result.windowMs, name) : undefined,
          limitRemaining: Math.max(0, result.remaining ?? 0),
          durationUntilReset:
            over || result.windowMs
              ? durationOfMs(over ? result.validDurationMs : (result.windowMs ?? 0))
              : undefined,
        });
      }),
    );
    const over = statuses.some((s) => s.code === rateLimitService.RateLimitResponse_Code.OVER_LIMIT);
    return rateLimitService.RateLimitResponse.fromPartial({
      overallCode: over
        ? rateLimitService.RateLimitResponse_Code.OVER_LIMIT
        : rateLimitService.RateLimitResponse_Code.OK,
      statuses,
    });
  };
}

function durationOfMs(ms: number): { seconds: number; nanos: number } {
  const clamped = Math.max(0, ms);
  const seconds = Math.floor(clamped / 1000);
  return { seconds, nanos: Math.round((clamped - seconds * 1000) * 1e6) };
}

type HttpEntry = accessLogService.StreamAccessLogsMessage_HTTPAccessLogEntries['logEntry'][number];
type TcpEntry = accessLogService.StreamAccessLogsMessage_TCPAccessLogEntries['logEntry'][number];
type Common = NonNullable<HttpEntry['commonProperties']>;

const METHODS = ['', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

function durationMsOf(
  d: { seconds: number; nanos: number } | undefined,
): { seconds: number; nanos: number } | undefined {
  return d ? { seconds: Number(d.seconds), nanos: d.nanos } : undefined;
}

/** Envoy's short response-flag codes (%RESPONSE_FLAGS%), for context.proxy_error_code. */
const FLAG_CODES: [keyof NonNullable<Common['responseFlags']>, string][] = [
  ['failedLocalHealthcheck', 'LH'],
  ['noHealthyUpstream', 'UH'],
  ['upstreamRequestTimeout', 'UT'],
  ['localReset', 'LR'],
  ['upstreamRemoteReset', 'UR'],
  ['upstreamConnectionFailure', 'UF'],
  ['upstreamConnectionTermination', 'UC'],
  ['upstreamOverflow', 'UO'],
  ['noRouteFound', 'NR'],
  ['delayInjected', 'DI'],
  ['faultInjected', 'FI'],
  ['rateLimited', 'RL'],
  ['unauthorizedDetails', 'UAEX'],
  ['rateLimitServiceError', 'RLSE'],
  ['downstreamConnectionTermination', 'DC'],
  ['upstreamRetryLimitExceeded', 'URX'],
  ['streamIdleTimeout', 'SI'],
  ['invalidEnvoyRequestHeaders', 'IH'],
  ['downstreamProtocolError', 'DPE'],
];

function commonAttributes(bag: Bag, c: Common | undefined): void {
  if (!c) return;
  setIp(bag, 'source.ip', c.downstreamRemoteAddress);
  setIp(bag, 'destination.ip', c.upstreamRemoteAddress ?? c.downstreamLocalAddress, 'destination.port');
  const host = hostOfCluster(c.upstreamCluster ?? '');
  if (host) bag.set('destination.service.host', host);
  if (c.startTime) bag.set('request.time', c.startTime);
  const flags = c.responseFlags;
  if (flags) {
    const codes = FLAG_CODES.filter(([k]) => !!flags[k]).map(([, code]) => code);
    bag.set('context.proxy_error_code', codes.length ? codes.join(',') : '-');
  }
  const tls = c.tlsProperties;
  if (tls) {
    setString(bag, 'connection.requested_server_name', tls.tlsSniHostname);
    bag.set('connection.mtls', (tls.peerCertificateProperties?.subjectAltName?.length ?? 0) > 0);
    const san = tls.peerCertificateProperties?.subjectAltName?.find((s) => s.uri)?.uri;
    if (san) bag.set('source.principal', san.replace(/^spiffe:\/\//, ''));
  }
}

export function attributesOfHttpLog(e: HttpEntry): Bag {
  const bag: Bag = new Map();
  commonAttributes(bag, e.commonProperties);
  const r = e.request;
  let headers: Record<string, string> = {};
  if (r) {
    headers = lowerKeys(r.requestHeaders);
    const method = METHODS[r.requestMethod] ?? '';
    setString(bag, 'request.method', method);
    setString(bag, 'request.scheme', r.scheme);
    setString(bag, 'request.host', r.authority);
    setString(bag, 'request.path', r.path);
    if (r.path) bag.set('request.url_path', r.path.split('?')[0]);
    setString(bag, 'request.useragent', r.userAgent);
    setString(bag, 'request.referer', r.referer);
    setString(bag, 'request.id', r.requestId);
    bag.set('request.headers', headers);
    bag.set('request.size', Number(r.requestBodyBytes ?? 0));
    bag.set('request.total_size', Number(r.requestHeadersBytes ?? 0) + Number(r.requestBodyBytes ?? 0));
  }
  const s = e.response;
  if (s) {
    if (s.responseCode !== undefined) bag.set('response.code', s.responseCode);
    bag.set('response.headers', lowerKeys(s.responseHeaders));
    bag.set('response.size', Number(s.responseBodyBytes ?? 0));
    bag.set('response.total_size', Number(s.responseHeadersBytes ?? 0) + Number(s.responseBodyBytes ?? 0));
  }
  const d = durationMsOf(e.commonProperties?.duration ?? e.commonProperties?.timeToLastDownstreamTxByte);
  if (d) bag.set('response.duration', d);
  bag.set('context.protocol', protocolOf(headers, 'http'));
  bag.set('context.time', new Date());
  return bag;
}

export function attributesOfTcpLog(e: TcpEntry): Bag {
  const bag: Bag = new Map();
  commonAttributes(bag, e.commonProperties);
  bag.delete('request.time');
  const p = e.connectionProperties;
  bag.set('connection.received.bytes', Number(p?.receivedBytes ?? 0));
  bag.set('connection.received.bytes_total', Number(p?.receivedBytes ?? 0));
  bag.set('connection.sent.bytes', Number(p?.sentBytes ?? 0));
  bag.set('connection.sent.bytes_total', Number(p?.sentBytes ?? 0));
  const d = durationMsOf(e.commonProperties?.duration ?? e.commonProperties?.timeToLastDownstreamTxByte);
  if (d) bag.set('connection.duration', d);
  if (e.commonProperties?.streamId) bag.set('connection.id', e.commonProperties.streamId);
  bag.set('connection.event', 'close');
  bag.set('context.protocol', 'tcp');
  bag.set('context.time', new Date());
  return bag;
}

/** StreamAccessLogs: every message's entries become one Report batch, dispatched as it arrives. */
export function streamAccessLogsHandler(runtime: MixerRuntime, logger: ErrorLogger) {
  return (
    call: ServerReadableStream<
      accessLogService.StreamAccessLogsMessage,
      accessLogService.StreamAccessLogsResponse
    >,
    callback: sendUnaryData<accessLogService.StreamAccessLogsResponse>,
  ): void => {
    let pending: Promise<unknown> = Promise.resolve();
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      callback(
        toServiceError(
          err,
          logger,
          'envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs',
        ) as ServiceError,
      );
    };
    call.on('data', (msg: accessLogService.StreamAccessLogsMessage) => {
      if (failed) return;
      let bags: Bag[];
      try {
        bags = [
          ...(msg.httpLogs?.logEntry ?? []).map(attributesOfHttpLog),
          ...(msg.tcpLogs?.logEntry ?? []).map(attributesOfTcpLog),
        ];
      } catch (err) {
        fail(
          err instanceof TypeError ? new BadRequestError(`malformed access log entry: ${err.message}`) : err,
        );
        return;
      }
      pending = pending.then(() => runtime.report(bags)).catch(fail);
    });
    call.on('error', () => {
      failed = true;
    });
    call.on('end', () => {
      void pending.then(() => {
        if (!failed) callback(null, accessLogService.StreamAccessLogsResponse.fromPartial({}));
      });
    });
  };
}

export function authorizationImplementation(
  runtime: MixerRuntime,
  logger: ErrorLogger,
): externalAuth.AuthorizationServer {
  return {
    check: unary('envoy.service.auth.v3.Authorization/Check', logger, authorizationCheckHandler(runtime)),
  } as unknown as externalAuth.AuthorizationServer;
}

export function rateLimitImplementation(
  runtime: MixerRuntime,
  logger: ErrorLogger,
): rateLimitService.RateLimitServiceServer {
  return {
    shouldRateLimit: unary(
      'envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit',
      logger,
      shouldRateLimitHandler(runtime),
    ),
  } as unknown as rateLimitService.RateLimitServiceServer;
}

export function accessLogImplementation(
  runtime: MixerRuntime,
  logger: ErrorLogger,
): accessLogService.AccessLogServiceServer {
  return {
    streamAccessLogs: streamAccessLogsHandler(runtime, logger),
  } as unknown as accessLogService.AccessLogServiceServer;
}
