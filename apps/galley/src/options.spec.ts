import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { galleyCommand } from './options';

function parse(args: string[], env: Record<string, string> = {}) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const command = galleyCommand()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined });
    return command.parse(['node', 'galley', ...args]).opts();
  } finally {
    process.env = saved;
  }
}

describe('galley options', () => {
  it('defaults to gRPC 9901 and monitoring 9902 on all interfaces', () => {
    expect(parse([])).toMatchObject({
      host: '0.0.0.0',
      grpcPort: 9901,
      monitoringPort: 9902,
      logLevel: 'info',
    });
  });

  it('takes FLOTILLA_* environment variables, and flags over them', () => {
    expect(parse([], { FLOTILLA_GRPC_PORT: '19901' }).grpcPort).toBe(19901);
    expect(parse(['--grpc-port', '29901'], { FLOTILLA_GRPC_PORT: '19901' }).grpcPort).toBe(29901);
  });

  it('refuses a config dir that does not exist or is a file, naming the path', () => {
    expect(() => parse(['--config-dir', '/no/such/dir'])).toThrow(/\/no\/such\/dir: ENOENT/);
    const file = join(mkdtempSync(join(tmpdir(), 'galley-')), 'f.yaml');
    writeFileSync(file, '');
    expect(() => parse(['--config-dir', file])).toThrow(/is not a directory/);
  });

  it('lists every option with its environment variable in --help', () => {
    const help = galleyCommand().helpInformation();
    for (const env of [
      'FLOTILLA_GRPC_PORT',
      'FLOTILLA_MONITORING_PORT',
      'FLOTILLA_CONFIG_DIR',
      'FLOTILLA_LOG_LEVEL',
    ]) {
      expect(help).toContain(env);
    }
    expect(help).toContain('default: 9901');
  });
});
