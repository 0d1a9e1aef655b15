import { createServer } from 'node:net';
import { freePorts } from './ports';
import { waitFor } from './wait';

describe('freePorts', () => {
  it('returns distinct ports that can be bound', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
    for (const port of ports) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      await new Promise((r) => server.close(r));
    }
  });

  it('never hands out a port twice in one process, though the kernel reuses closed ones', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(...(await freePorts(1)));
    expect(new Set(ports).size).toBe(ports.length);
  });
});

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let n = 0;
    await expect(waitFor('n to reach 3', () => (++n >= 3 ? n : undefined), 1000, 1)).resolves.toBe(3);
  });

  it('times out naming what it waited for and the last error', async () => {
    await expect(
      waitFor(
        'the impossible',
        () => {
          throw new Error('still no');
        },
        50,
        10,
      ),
    ).rejects.toThrow('timed out after 50 ms waiting for the impossible: still no');
  });
});
