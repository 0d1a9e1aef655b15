import { checkSecureXdsOptions, pilotCommand } from './options';
import type { PilotOptions } from './options';

function parse(args: string[]) {
  return pilotCommand()
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .parse(['node', 'pilot', ...args])
    .opts();
}

describe('pilot options', () => {
  it('serves the mTLS xDS port (15012) only with citadel, its root and a way to a token', () => {
    const opts = (args: string[]) => parse(args) as PilotOptions;
    expect(opts([]).secureXdsPort).toBe(15012);
    expect(checkSecureXdsOptions(opts([]))).toBeUndefined();
    expect(checkSecureXdsOptions(opts(['--citadel-address', '127.0.0.1:8060']))).toBe(
      '--citadel-address needs --citadel-root-cert and --citadel-token-file (or --citadel-token-key-dir)',
    );
    const full = ['--citadel-address', '127.0.0.1:8060', '--citadel-root-cert', 'root.pem'];
    expect(
      checkSecureXdsOptions(opts([...full, '--citadel-token-key-dir', 'state/citadel'])),
    ).toBeUndefined();
    expect(checkSecureXdsOptions(opts([...full, '--citadel-token-file', 'token']))).toBeUndefined();
  });

  it("defaults to Istio's ports: plaintext xDS 15010, monitoring 15014, and gRPC 15011", () => {
    expect(parse([])).toMatchObject({ xdsPort: 15010, grpcPort: 15011, monitoringPort: 15014 });
  });

  it('takes the xDS port from --xds-port or FLOTILLA_XDS_PORT', () => {
    expect(parse(['--xds-port', '25010']).xdsPort).toBe(25010);
    const saved = process.env;
    process.env = { ...saved, FLOTILLA_XDS_PORT: '35010' };
    try {
      expect(parse([]).xdsPort).toBe(35010);
    } finally {
      process.env = saved;
    }
  });

  it("debounces endpoint pushes by default, as Istio's PILOT_ENABLE_EDS_DEBOUNCE, and takes true or false", () => {
    expect(parse([]).edsDebounce).toBe(true);
    expect(parse(['--eds-debounce', 'false']).edsDebounce).toBe(false);
    expect(() => parse(['--eds-debounce', 'no'])).toThrow('"no" is neither true nor false');
  });

  it('follows galley over delta MCP by default, and takes delta or sotw', () => {
    expect(parse([]).mcpProtocol).toBe('delta');
    expect(parse(['--mcp-protocol', 'sotw']).mcpProtocol).toBe('sotw');
    expect(() => parse(['--mcp-protocol', 'incremental'])).toThrow('"incremental" is neither delta nor sotw');
  });

  it('rejects a port out of range', () => {
    expect(() => parse(['--xds-port', '99999'])).toThrow('"99999" is not a port number');
  });
});
