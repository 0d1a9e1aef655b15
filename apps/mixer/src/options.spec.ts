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
});
