/**
 * `mixer-adapter-serve PACKAGE [--port N] [--host ADDR] [--export NAME]`: runs the SDK adapter a package exports
 * (see adapterOf) as an out-of-process adapter service, until SIGINT or SIGTERM. The package is resolved from the current directory, so an author runs it from their project.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Adapter } from '../adapter';
import { serveAdapter } from './serve';

const USAGE = 'usage: mixer-adapter-serve PACKAGE [--port N] [--host ADDR] [--export NAME]';

function isAdapter(a: unknown): a is Adapter {
  return (
    typeof a === 'object' &&
    a !== null &&
    typeof (a as Adapter).build === 'function' &&
    typeof (a as Adapter).validate === 'function' &&
    Array.isArray((a as Adapter).templates)
  );
}

/**
 * The adapter a loaded module exports: the export named `exportName` when given; otherwise its `adapter` or default
 * export (what mixer loads), or else its only export that is an adapter (`export const listAdapter = …`).
 */
export function adapterOf(mod: Record<string, unknown>, exportName?: string): Adapter | undefined {
  if (exportName !== undefined) return isAdapter(mod[exportName]) ? mod[exportName] : undefined;
  for (const candidate of [mod.adapter, mod.default, (mod.default as Record<string, unknown>)?.adapter])
    if (isAdapter(candidate)) return candidate;
  const adapters = Object.values(mod).filter(isAdapter);
  return adapters.length === 1 ? adapters[0] : undefined;
}

/** Returns the process exit code when it cannot start; otherwise serves until a signal, then exits 0. */
export async function serveAdapterMain(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        port: { type: 'string', default: '0' },
        host: { type: 'string', default: '127.0.0.1' },
        export: { type: 'string' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [packageName] = parsed.positionals;
  const port = Number(parsed.values.port);
  if (!packageName || parsed.positionals.length > 1 || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let mod: Record<string, unknown>;
  try {
    mod = createRequire(join(process.cwd(), 'package.json'))(packageName) as Record<string, unknown>;
  } catch (err) {
    process.stderr.write(`cannot load ${packageName}: ${(err as Error).message}\n`);
    return 1;
  }
  const adapter = adapterOf(mod, parsed.values.export);
  if (!adapter) {
    process.stderr.write(
      parsed.values.export
        ? `${packageName}: export ${parsed.values.export} is not an adapter\n`
        : `${packageName} exports no single adapter (give an \`adapter\` or default export, or --export NAME)\n`,
    );
    return 1;
  }
  const log = (level: string) => (fields: object, msg?: string) =>
    process.stdout.write(JSON.stringify({ level, ...fields, msg }) + '\n');
  const server = await serveAdapter(adapter, {
    port,
    host: parsed.values.host,
    logger: { debug: () => undefined, info: log('info'), warn: log('warn'), error: log('error') },
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}
