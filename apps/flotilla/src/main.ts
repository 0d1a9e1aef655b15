import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { analyzeCommand } from './commands/analyze';
import { benchCommand } from './commands/bench';
import { bootstrapCommand } from './commands/bootstrap';
import { caCommand } from './commands/ca';
import { proxyConfigCommand, proxyStatusCommand } from './commands/pilot-debug';
import { tokenCommand } from './commands/token';
import { validateCommand } from './commands/validate';
import { crdsCommand } from './commands/crds';
import { WORKSPACE_ROOT } from './paths';
import { DEFAULT_PORTS, portOptionOf } from './up/mesh';
import type { MeshPorts } from './up/mesh';
import { UpError, up } from './up/up';
import type { UpOptions } from './up/up';

const VERSION: string = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version;

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not a port number (1-65535)`);
  }
  return port;
}

function upCommand(): Command {
  const command = new Command('up')
    .description('run the local mesh (galley, pilot, mixer, citadel) as child processes until Ctrl-C')
    .option('--config <dir>', 'mesh configuration folder', join(WORKSPACE_ROOT, 'examples', 'bookinfo'))
    .option('--state <dir>', 'state folder (CA keys, endpoints.json)', '.flotilla')
    .option('--no-samples', 'do not run the sample workloads')
    .option('--host <address>', 'address every app listens on', '127.0.0.1')
    .option('--log-level <level>', "the apps' log level", 'info')
    .addOption(
      new Option('--start-timeout <seconds>', 'seconds to wait for every app to be healthy')
        .default(60)
        .argParser((v) => {
          const n = Number(v);
          if (!Number.isFinite(n) || n <= 0)
            throw new InvalidArgumentError(`${JSON.stringify(v)} is not a positive number`);
          return n;
        }),
    );
  for (const [key, port] of Object.entries(DEFAULT_PORTS) as [keyof MeshPorts, number][]) {
    command.addOption(
      new Option(`${portOptionOf(key)} <port>`, `${key} port`).default(port).argParser(parsePort),
    );
  }
  return command.action(async (opts: Record<string, unknown>) => {
    const ports = Object.fromEntries(
      Object.keys(DEFAULT_PORTS).map((k) => [k, opts[`${k}Port`]]),
    ) as unknown as MeshPorts;
    const options: UpOptions = {
      configDir: opts.config as string,
      stateDir: opts.state as string,
      samples: opts.samples as boolean,
      host: opts.host as string,
      logLevel: opts.logLevel as string,
      startTimeout: opts.startTimeout as number,
      ports,
    };
    try {
      process.exitCode = await up(options);
    } catch (err) {
      if (!(err instanceof UpError)) throw err;
      process.stderr.write(`flotilla up: ${err.message}\n`);
      process.exitCode = err.exitCode;
    }
  });
}

export function program(): Command {
  return new Command('flotilla')
    .description('Flotilla: an open control plane for Envoy service meshes')
    .version(VERSION)
    .showHelpAfterError()
    .addCommand(upCommand())
    .addCommand(validateCommand())
    .addCommand(analyzeCommand())
    .addCommand(crdsCommand())
    .addCommand(tokenCommand())
    .addCommand(caCommand())
    .addCommand(proxyStatusCommand())
    .addCommand(proxyConfigCommand())
    .addCommand(benchCommand())
    .addCommand(bootstrapCommand(VERSION))
    .addCommand(
      new Command('version').description('print the version').action(() => {
        process.stdout.write(`flotilla ${VERSION} (node ${process.version})\n`);
      }),
    );
}

/**
 * Runs the CLI and exits with its code once stdout and stderr are flushed: on a pipe, writes are asynchronous, and
 * exiting at once would cut long output (`flotilla crds | kubectl apply -f -`) short.
 */
export function run(argv: readonly string[]): void {
  const exit = (code: number) =>
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  program()
    .parseAsync(argv as string[])
    .then(
      () => exit(Number(process.exitCode ?? 0)),
      (err: unknown) => {
        process.stderr.write(`flotilla: ${(err as Error).stack ?? String(err)}\n`);
        exit(2);
      },
    );
}

if (require.main === module) run(process.argv);
