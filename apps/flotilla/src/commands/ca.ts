// `flotilla ca`: operations on the local citadel's certificate authority.
import { Command, Option } from 'commander';
import {
  REVOCATION_REASONS,
  ROOT_CERT_FILE,
  RevocationError,
  addRevocation,
  normalizeSerial,
} from '@flotilla/pki';
import type { RevocationReason } from '@flotilla/pki';
import { citadelStateDir } from './citadel-state';

export interface RevokeOptions {
  state: string;
  serial: string;
  reason: RevocationReason;
}

/**
 * Records the serial as revoked in citadel's revocations file; a running citadel re-reads it within a second,
 * re-signs its CRL and answers "revoked" over OCSP. Returns the line to print.
 */
export function revoke(options: RevokeOptions, now = new Date()): string {
  const dir =
    citadelStateDir(options.state, ROOT_CERT_FILE) ?? citadelStateDir(options.state, 'trust-bundle.pem');
  if (!dir) {
    throw new RevocationError(
      `no citadel state in ${options.state}/citadel or ${options.state} (no ${ROOT_CERT_FILE})`,
    );
  }
  const serial = normalizeSerial(options.serial);
  const { added, revocation } = addRevocation(dir, serial, options.reason, now);
  return added
    ? `revoked ${serial} (${options.reason}); citadel's CRL and OCSP responder report it within a second`
    : `${serial} was already revoked on ${revocation.revokedAt} (${revocation.reason})`;
}

function revokeCommand(): Command {
  return new Command('revoke')
    .description('revoke a workload certificate by serial number (hex, as openssl prints it)')
    .option('--state <dir>', 'state folder of flotilla up (or citadel’s --state-dir)', '.flotilla')
    .requiredOption('--serial <hex>', 'serial number, e.g. 4A:1B:… or 4a1b…')
    .addOption(
      new Option('--reason <reason>', 'RFC 5280 reason code')
        .choices(Object.keys(REVOCATION_REASONS))
        .default('unspecified'),
    )
    .action((opts: RevokeOptions) => {
      try {
        process.stdout.write(revoke(opts) + '\n');
      } catch (err) {
        if (!(err instanceof RevocationError)) throw err;
        process.stderr.write(`flotilla ca revoke: ${err.message}\n`);
        process.exitCode = 2;
      }
    });
}

export function caCommand(): Command {
  return new Command('ca')
    .description('the local certificate authority (citadel)')
    .addCommand(revokeCommand());
}
