import { resolve } from 'node:path';
import { citadelCommand } from './options';

function parse(args: string[]) {
  return citadelCommand()
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .parse(['node', 'citadel', ...args])
    .opts();
}

describe('citadel options', () => {
  it('defaults to port 8060, trust domain cluster.local, and a certificate for localhost and 127.0.0.1', () => {
    expect(parse([])).toMatchObject({
      grpcPort: 8060,
      monitoringPort: 15016,
      trustDomain: 'cluster.local',
      servingDnsNames: ['localhost', '127.0.0.1'],
    });
  });

  it('splits --serving-dns-names on commas and resolves --state-dir to an absolute path', () => {
    const opts = parse([
      '--serving-dns-names',
      'citadel, citadel.flotilla-system.svc ,',
      '--state-dir',
      'x/y',
    ]);
    expect(opts.servingDnsNames).toEqual(['citadel', 'citadel.flotilla-system.svc']);
    expect(opts.stateDir).toBe(resolve('x/y'));
  });
});
