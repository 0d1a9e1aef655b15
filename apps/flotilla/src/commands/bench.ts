import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_WARMUP_ROUNDS, formatPilotLoad, runPilotLoad } from '../bench/pilot-load';

function count(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min)
      throw new InvalidArgumentError(`${JSON.stringify(value)} is not a whole number ≥ ${min}`);
    return n;
  };
}

export function benchCommand(): Command {
  const pilot = new Command('pilot')
    .description(
      'load-test pilot: M raw ADS clients against pilot fed N generated services, measuring sync and ' +
        'convergence against a bare grpc-js fan-out of the same bytes',
    )
    .addOption(new Option('--services <n>', 'generated services').default(1000).argParser(count(1)))
    .addOption(new Option('--proxies <m>', 'ADS clients').default(2000).argParser(count(1)))
    .addOption(new Option('--targets <k>', 'services each client dials').default(5).argParser(count(1)))
    .addOption(new Option('--rounds <r>', 'changes of each kind').default(5).argParser(count(1)))
    .addOption(
      new Option('--warmup <r>', 'changes of each kind made first and not counted')
        .default(DEFAULT_WARMUP_ROUNDS)
        .argParser(count(0)),
    )
    .addOption(new Option('--debounce <ms>', "pilot's push debounce").default(100).argParser(count(0)))
    .addOption(
      new Option('--eds-debounce <true|false>', 'endpoint-only pushes wait for the debounce too')
        .choices(['true', 'false'])
        .default('true'),
    )
    .addOption(
      new Option('--timeout <seconds>', 'wait for sync and for each change').default(60).argParser(count(1)),
    )
    .action(async (opts: Record<string, number> & { edsDebounce: string }) => {
      const result = await runPilotLoad({
        services: opts.services,
        proxies: opts.proxies,
        targets: opts.targets,
        rounds: opts.rounds,
        warmupRounds: opts.warmup,
        debounceMs: opts.debounce,
        edsDebounce: opts.edsDebounce === 'true',
        timeoutSeconds: opts.timeout,
        progress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${formatPilotLoad(result)}\n`);
    });
  return new Command('bench').description('load simulators').addCommand(pilot);
}
