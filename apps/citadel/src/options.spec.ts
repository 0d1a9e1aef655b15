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

  it('reads the Vault flags, and refuses an unknown --vault-mode', () => {
    expect(parse([])).toMatchObject({ vaultAddress: '', vaultMount: 'pki', vaultMode: 'sign-leaf' });
    expect(
      parse(['--vault-address', 'http://vault:8200', '--vault-mode', 'sign-intermediate']),
    ).toMatchObject({
      vaultAddress: 'http://vault:8200',
      vaultMode: 'sign-intermediate',
    });
    expect(() => parse(['--vault-mode', 'both'])).toThrow(/not sign-leaf or sign-intermediate/);
  });

  it('renews a Vault-signed intermediate at 20% of its life left, checking hourly, unless told otherwise', () => {
    expect(parse([])).toMatchObject({
      vaultIntermediateCheckInterval: 3_600_000,
      vaultIntermediateRenewThreshold: 0.2,
    });
    expect(
      parse(['--vault-intermediate-check-interval', '0.5s', '--vault-intermediate-renew-threshold', '0.3']),
    ).toMatchObject({ vaultIntermediateCheckInterval: 500, vaultIntermediateRenewThreshold: 0.3 });
    expect(() => parse(['--vault-intermediate-renew-threshold', '0'])).toThrow(
      /not a number between 0 and 1/,
    );
  });

  it('rotates the root at 20% of its life left, checking hourly and keeping the key, unless told otherwise', () => {
    expect(parse([])).toMatchObject({
      rootRotationCheckInterval: 3_600_000,
      rootRotationThreshold: 0.2,
      rotateCaKey: false,
      kubeNamespace: '',
    });
    expect(
      parse([
        '--root-rotation-check-interval',
        '10m',
        '--root-rotation-threshold',
        '0.5',
        '--rotate-ca-key',
        'true',
        '--kube-namespace',
        'istio-system',
      ]),
    ).toMatchObject({
      rootRotationCheckInterval: 600_000,
      rootRotationThreshold: 0.5,
      rotateCaKey: true,
      kubeNamespace: 'istio-system',
    });
    expect(() => parse(['--root-rotation-threshold', '1'])).toThrow(/not a number between 0 and 1/);
    expect(() => parse(['--root-rotation-threshold', 'a fifth'])).toThrow(/not a number between 0 and 1/);
  });
});
