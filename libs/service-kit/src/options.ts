import { Command, InvalidArgumentError, Option } from 'commander';
import { LOG_LEVELS } from './logging';
import type { LogLevel } from './logging';

/** Every flag `--some-flag` can also be set by the environment variable FLOTILLA_SOME_FLAG. */
export function envNameOf(flag: string): string {
  return 'FLOTILLA_' + flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase();
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new InvalidArgumentError(
      `${JSON.stringify(value)} is not a port number (0-65535; 0 picks a free port)`,
    );
  }
  return port;
}

export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive number`);
  return n;
}

export function parseLogLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return value as LogLevel;
}

export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** An option with its FLOTILLA_* environment variable, default and parser, listed by `--help`. */
export function option<T>(
  flags: string,
  description: string,
  defaultValue: T,
  parse?: (value: string) => T,
  /** How --help shows the default when the value itself would mislead (a duration in ms shown as "24h"). */
  defaultDescription?: string,
): Option {
  const long = flags.split(/[ ,]+/).find((f) => f.startsWith('--'));
  if (!long) throw new Error(`option ${flags} needs a --long name`);
  const opt = new Option(flags, description).env(envNameOf(long));
  if (defaultValue !== undefined) opt.default(defaultValue, defaultDescription);
  if (parse) opt.argParser((value: string) => parse(value));
  return opt;
}

/** Options every control-plane app has. */
export interface CommonOptions {
  host: string;
  grpcPort: number;
  monitoringPort: number;
  logLevel: LogLevel;
  /** Seconds to drain streams on SIGTERM/SIGINT before closing them. */
  shutdownTimeout: number;
}

export interface CommonDefaults {
  grpcPort: number;
  monitoringPort: number;
}

/**
 * Builds an app's command line: the common options plus the app's own. `parse` returns the typed options
 * object; `--help` lists every option with its default and environment variable.
 */
export function appCommand(
  name: string,
  description: string,
  version: string,
  defaults: CommonDefaults,
): Command {
  return new Command(name)
    .description(description)
    .version(version)
    .addOption(option('--host <address>', 'address the gRPC and monitoring servers listen on', '0.0.0.0'))
    .addOption(option('--grpc-port <port>', 'gRPC port', defaults.grpcPort, parsePort))
    .addOption(
      option(
        '--monitoring-port <port>',
        'HTTP port for /metrics, /ready, /healthz and /debug',
        defaults.monitoringPort,
        parsePort,
      ),
    )
    .addOption(
      option(
        '--log-level <level>',
        `log level (${LOG_LEVELS.join(', ')})`,
        'info' as LogLevel,
        parseLogLevel,
      ),
    )
    .addOption(
      option(
        '--shutdown-timeout <seconds>',
        'seconds to drain streams on SIGTERM/SIGINT',
        10,
        parsePositiveNumber,
      ),
    )
    .showHelpAfterError()
    .allowExcessArguments(false);
}

/** Parses argv (as process.argv) with the command and returns its options object. */
export function parseOptions<T>(command: Command, argv: readonly string[]): T {
  command.parse(argv as string[]);
  return command.opts() as T;
}
