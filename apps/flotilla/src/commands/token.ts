// `flotilla token`: the local mesh's stand-in for a Kubernetes service-account token.
import { Command, InvalidArgumentError, Option } from 'commander';
import { LOCAL_TOKEN_KEY_FILE, readTokenKey, signLocalToken } from '@flotilla/pki';
import { KUBE_NAME, citadelStateDir } from './citadel-state';

export interface TokenOptions {
  state: string;
  namespace: string;
  serviceAccount: string;
  /** Seconds. */
  ttl: number;
}

export class TokenCommandError extends Error {}

/** Signs a token for the service account with the local citadel's token key. */
export function makeToken(options: TokenOptions): string {
  const dir = citadelStateDir(options.state, LOCAL_TOKEN_KEY_FILE);
  if (!dir) {
    throw new TokenCommandError(
      `no ${LOCAL_TOKEN_KEY_FILE} in ${options.state}/citadel or ${options.state}: start the local mesh first ` +
        `(flotilla up --state ${options.state}), or pass citadel's --state-dir`,
    );
  }
  return signLocalToken(readTokenKey(dir), options, { ttlSeconds: options.ttl });
}

function kubeName(what: string) {
  return (value: string) => {
    if (!KUBE_NAME.test(value))
      throw new InvalidArgumentError(`${JSON.stringify(value)} is not a valid ${what} name`);
    return value;
  };
}

export function tokenCommand(): Command {
  return new Command('token')
    .description(
      'print a token that the local citadel accepts as proof of a service account (audience istio-ca), ' +
        'for CreateCertificate calls: "authorization: Bearer <token>"',
    )
    .option('--state <dir>', 'state folder of flotilla up (or citadel’s --state-dir)', '.flotilla')
    .addOption(
      new Option('--namespace <ns>', 'namespace').default('default').argParser(kubeName('namespace')),
    )
    .addOption(
      new Option('--service-account <sa>', 'service account')
        .makeOptionMandatory()
        .argParser(kubeName('service account')),
    )
    .addOption(
      new Option('--ttl <seconds>', 'how long the token is valid').default(3600).argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n <= 0)
          throw new InvalidArgumentError(`${JSON.stringify(v)} is not a positive number of seconds`);
        return n;
      }),
    )
    .action((opts: TokenOptions) => {
      try {
        process.stdout.write(makeToken(opts) + '\n');
      } catch (err) {
        if (!(err instanceof TokenCommandError)) throw err;
        process.stderr.write(`flotilla token: ${err.message}\n`);
        process.exitCode = 2;
      }
    });
}
