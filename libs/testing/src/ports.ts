import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';

/**
 * Ports this process has already handed out. The kernel readily gives a just-closed port to the next listener on
 * port 0 (a few repeats in every 300 here), so without this a test that takes a port for a server it starts later
 * can find it taken by a child process that asked in between.
 */
const handedOut = new Set<number>();

/** A listener on a port the kernel chose, held open so the next one cannot be given the same port. */
function listenOnAnyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * `count` distinct TCP ports free on 127.0.0.1 right now and never returned before by this process. All are held
 * open until every one is found, so the kernel cannot hand out the same port twice within a call.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const server = await listenOnAnyPort();
      held.push(server);
      const port = (server.address() as AddressInfo).port;
      if (!handedOut.has(port)) ports.push(port);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
  for (const port of ports) handedOut.add(port);
  return ports;
}
