#!/usr/bin/env node
// Generates libs/proto/src/gen (TypeScript via ts-proto) and libs/proto/descriptors/flotilla.binpb (a
// FileDescriptorSet for gRPC server reflection) from:
//   - the project's own Istio-facing protos in protos/, and
//   - Envoy, xds, googleapis and protoc-gen-validate protos shipped inside the @grpc/grpc-js-xds npm package.
// Nothing from the npm package is copied into the repo. Its validate.proto lacks StringRules.ignore_empty (field
// 26), which Envoy's protos use, so the script patches a temporary copy. Run as `nx run proto:generate`;
// `--check` regenerates into a temporary folder and fails if the committed output differs.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  mkdirSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const libRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const workspaceRoot = resolve(libRoot, '../..');
const require = createRequire(join(workspaceRoot, 'package.json'));
const xdsDeps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const buf = join(workspaceRoot, 'node_modules/.bin/buf');
const tsProtoPlugin = join(workspaceRoot, 'node_modules/.bin/protoc-gen-ts_proto');

/** The proto files we generate; everything they import is generated too (ts-proto emits imported files). */
const ROOTS = [
  // xDS transport
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  // xDS resources
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/service/secret/v3/sds.proto',
  // filters
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  // upstream HTTP options of clusters (max requests per connection, idle timeout, HTTP/2)
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  // retries prefer hosts not tried yet (Istio's default retry policy)
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto',
  // services the data plane calls
  'envoy/service/auth/v3/external_auth.proto',
  'envoy/service/ratelimit/v3/rls.proto',
  'envoy/service/accesslog/v3/als.proto',
  // admin
  'envoy/admin/v3/config_dump.proto',
  // the sidecar's bootstrap (flotilla bootstrap)
  'envoy/config/bootstrap/v3/bootstrap.proto',
  // Flotilla's own (protos/)
  'grpc/health/v1/health.proto',
  'istio/mcp/v1alpha1/metadata.proto',
  'istio/mcp/v1alpha1/resource.proto',
  'istio/mixer/v1/attributes.proto',
  'istio/mixer/v1/check.proto',
  'istio/mixer/v1/report.proto',
  'istio/mixer/v1/service.proto',
  'istio/security/v1alpha1/ca.proto',
  // Out-of-process mixer adapters: one service per template
  'mixer/template/checknothing/template_handler_service.proto',
  'mixer/template/listentry/template_handler_service.proto',
  'mixer/template/authorization/template_handler_service.proto',
  'mixer/template/quota/template_handler_service.proto',
  'mixer/template/metric/template_handler_service.proto',
  'mixer/template/logentry/template_handler_service.proto',
  'mixer/template/reportnothing/template_handler_service.proto',
];

const TS_PROTO_OPTIONS = [
  'outputServices=grpc-js',
  'esModuleInterop=true',
  'env=node',
  // A registry of every message by full name: packs and unpacks google.protobuf.Any by type URL, and gives Any
  // its canonical JSON form ("@type") in toJSON, which config_dump needs.
  'outputTypeRegistry=true',
  'outputTypeAnnotations=optional',
  'useOptionals=messages',
  'useExactTypes=false',
];

/** Copies the protos into one temporary buf workspace with the validate.proto patch applied. */
function prepareWorkspace(dir) {
  const modules = {
    envoy: join(xdsDeps, 'envoy-api'),
    xds: join(xdsDeps, 'xds'),
    googleapis: join(xdsDeps, 'googleapis'),
    validate: join(xdsDeps, 'protoc-gen-validate'),
    flotilla: join(workspaceRoot, 'protos'),
  };
  for (const [name, source] of Object.entries(modules)) {
    cpSync(source, join(dir, name), {
      recursive: true,
      filter: (path) => statSync(path).isDirectory() || path.endsWith('.proto'),
    });
  }
  // protoc-gen-validate ships java/ and tests/ protos we do not want on the path.
  rmSync(join(dir, 'validate/java'), { recursive: true, force: true });
  rmSync(join(dir, 'validate/tests'), { recursive: true, force: true });
  patchValidateProto(join(dir, 'validate/validate/validate.proto'));
  const bufYaml = ['version: v2', 'modules:', ...Object.keys(modules).map((m) => `  - path: ${m}`)].join(
    '\n',
  );
  writeFileSync(join(dir, 'buf.yaml'), bufYaml + '\n');
}

function patchValidateProto(path) {
  const text = readFileSync(path, 'utf8');
  if (/\bignore_empty\s*=\s*26\b/.test(text)) return;
  const start = text.indexOf('message StringRules {');
  if (start < 0) throw new Error(`${path}: message StringRules not found; cannot add ignore_empty`);
  const patched =
    text.slice(0, start) +
    'message StringRules {\n    optional bool ignore_empty = 26;\n' +
    text.slice(start + 'message StringRules {'.length);
  writeFileSync(path, patched);
}

function generate(outDir, descriptorFile) {
  const work = mkdtempSync(join(tmpdir(), 'flotilla-proto-'));
  try {
    prepareWorkspace(work);
    const template = {
      version: 'v2',
      plugins: [{ local: tsProtoPlugin, out: outDir, opt: TS_PROTO_OPTIONS, strategy: 'all' }],
    };
    const pathArgs = ROOTS.flatMap((p) => ['--path', join(work, moduleOf(work, p), p)]);
    execFileSync(buf, ['generate', work, '--template', JSON.stringify(template), ...pathArgs], {
      stdio: 'inherit',
    });
    execFileSync(buf, ['build', work, '--as-file-descriptor-set', '-o', descriptorFile, ...pathArgs], {
      stdio: 'inherit',
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function moduleOf(work, protoPath) {
  for (const m of ['envoy', 'xds', 'googleapis', 'validate', 'flotilla']) {
    try {
      statSync(join(work, m, protoPath));
      return m;
    } catch {
      // not in this module
    }
  }
  throw new Error(`${protoPath}: not found in any proto module`);
}

function listFiles(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
  );
}

const genDir = join(libRoot, 'src/gen');
const descriptorFile = join(libRoot, 'descriptors/flotilla.binpb');

if (process.argv.includes('--check')) {
  const scratch = mkdtempSync(join(tmpdir(), 'flotilla-proto-check-'));
  try {
    generate(join(scratch, 'gen'), join(scratch, 'flotilla.binpb'));
    const expected = listFiles(join(scratch, 'gen')).sort();
    const actual = listFiles(genDir).sort();
    const stale = [];
    for (const f of new Set([...expected, ...actual])) {
      let a = null;
      let b = null;
      try {
        a = readFileSync(join(scratch, 'gen', f));
      } catch {
        /* missing */
      }
      try {
        b = readFileSync(join(genDir, f));
      } catch {
        /* missing */
      }
      if (!a || !b || !a.equals(b)) stale.push(`libs/proto/src/gen/${f}`);
    }
    if (!readFileSync(join(scratch, 'flotilla.binpb')).equals(readFileSync(descriptorFile))) {
      stale.push('libs/proto/descriptors/flotilla.binpb');
    }
    if (stale.length) {
      console.error(
        `Generated protobuf code is stale (${stale.length} files), e.g.:\n  ${stale.slice(0, 10).join('\n  ')}`,
      );
      console.error('Run `npx nx run proto:generate` and commit the result.');
      process.exit(1);
    }
    console.log(`Generated protobuf code is up to date (${expected.length} files).`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
} else {
  rmSync(genDir, { recursive: true, force: true });
  mkdirSync(dirname(descriptorFile), { recursive: true });
  generate(genDir, descriptorFile);
  console.log(`Generated ${listFiles(genDir).length} files into ${relative(workspaceRoot, genDir)}`);
}
