import { appCommand, envNameOf } from './options';

function parse(args: string[], env: Record<string, string> = {}) {
  const saved = process.env;
  process.env = { ...saved, ...env };
  try {
    const command = appCommand('x', 'test app', '0.0.0', { grpcPort: 1000, monitoringPort: 1001 })
      .exitOverride()
      .configureOutput({ writeErr: () => undefined });
    return command.parse(['node', 'x', ...args]).opts();
  } finally {
    process.env = saved;
  }
}

describe('app options', () => {
  it('names the environment variable of each flag FLOTILLA_<FLAG>', () => {
    expect(envNameOf('--grpc-port')).toBe('FLOTILLA_GRPC_PORT');
    expect(envNameOf('--shutdown-timeout')).toBe('FLOTILLA_SHUTDOWN_TIMEOUT');
  });

  it('parses typed values from flags and environment', () => {
    expect(parse(['--grpc-port', '7', '--log-level', 'debug'])).toMatchObject({
      grpcPort: 7,
      logLevel: 'debug',
    });
    expect(parse([], { FLOTILLA_SHUTDOWN_TIMEOUT: '2.5' }).shutdownTimeout).toBe(2.5);
  });

  it('rejects bad values naming the value and what is accepted', () => {
    expect(() => parse(['--grpc-port', '70000'])).toThrow('"70000" is not a port number');
    expect(() => parse(['--log-level', 'loud'])).toThrow('"loud" is not one of trace, debug, info');
    expect(() => parse([], { FLOTILLA_MONITORING_PORT: 'abc' })).toThrow('"abc" is not a port number');
  });
});
