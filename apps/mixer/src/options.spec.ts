import { mixerCommand } from './options';

describe('mixer options', () => {
  it("defaults to Istio mixer's gRPC port 9091 and monitoring 9093", () => {
    const opts = mixerCommand().parse(['node', 'mixer']).opts();
    expect(opts).toMatchObject({ grpcPort: 9091, monitoringPort: 9093, host: '0.0.0.0' });
  });

  it('refuses arguments it does not know', () => {
    const command = mixerCommand()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined });
    expect(() => command.parse(['node', 'mixer', '--redis', 'x'])).toThrow("unknown option '--redis'");
  });

  it('takes the config folder from --config-dir or FLOTILLA_CONFIG_DIR, and the default namespace', () => {
    expect(mixerCommand().parse(['node', 'mixer', '--config-dir', '/etc/mixer']).opts()).toMatchObject({
      configDir: '/etc/mixer',
      configDefaultNamespace: 'istio-system',
    });
    process.env.FLOTILLA_CONFIG_DIR = '/from/env';
    try {
      expect(mixerCommand().parse(['node', 'mixer']).opts().configDir).toBe('/from/env');
    } finally {
      delete process.env.FLOTILLA_CONFIG_DIR;
    }
  });
});
