import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdapterHarness, Code } from '@flotilla/mixer-adapter-sdk';
import { listAdapter } from './list';

describe('list adapter', () => {
  it('allows only listed strings (NOT_FOUND otherwise), case-insensitively when asked', async () => {
    const h = await AdapterHarness.start(listAdapter, {
      overrides: ['Reviews', 'ratings'],
      entryType: 'CASE_INSENSITIVE_STRINGS',
    });
    expect((await h.check('listentry', { value: 'reviews' })).status.code).toBe(Code.OK);
    const miss = await h.check('listentry', { value: 'details' });
    expect(miss.status).toEqual({ code: Code.NOT_FOUND, message: 'details is not whitelisted' });
  });

  it('denies addresses inside a blacklisted IP range', async () => {
    const h = await AdapterHarness.start(listAdapter, {
      overrides: ['10.0.0.0/8', '2001:db8::/32'],
      entryType: 'IP_ADDRESSES',
      blacklist: true,
    });
    expect((await h.check('listentry', { value: '10.20.30.40' })).status.code).toBe(Code.PERMISSION_DENIED);
    expect((await h.check('listentry', { value: '2001:db8::1' })).status.code).toBe(Code.PERMISSION_DENIED);
    expect((await h.check('listentry', { value: '11.0.0.1' })).status.code).toBe(Code.OK);
  });

  it('matches regexes', async () => {
    const h = await AdapterHarness.start(listAdapter, {
      overrides: ['^/admin/'],
      entryType: 'REGEX',
      blacklist: true,
    });
    expect((await h.check('listentry', { value: '/admin/users' })).status.code).toBe(Code.PERMISSION_DENIED);
    expect((await h.check('listentry', { value: '/public' })).status.code).toBe(Code.OK);
  });

  it('fetches the list from a URL and picks up changes on refresh', async () => {
    let body = '# allowed callers\nproductpage\n';
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/list`;
    const h = await AdapterHarness.start(listAdapter, { providerUrl: url, refreshInterval: '100ms' });
    try {
      expect((await h.check('listentry', { value: 'productpage' })).status.code).toBe(Code.OK);
      expect((await h.check('listentry', { value: 'reviews' })).status.code).toBe(Code.NOT_FOUND);
      body = 'reviews\n';
      await new Promise((r) => setTimeout(r, 300));
      expect((await h.check('listentry', { value: 'reviews' })).status.code).toBe(Code.OK);
      expect((await h.check('listentry', { value: 'productpage' })).status.code).toBe(Code.NOT_FOUND);
    } finally {
      await h.close();
      server.close();
    }
  });

  it('refuses entries that are not of the entry type', () => {
    expect(() =>
      listAdapter.validate({ overrides: ['10.0.0.0/40', 'x'], entryType: 'IP_ADDRESSES' }),
    ).toThrow('overrides: not valid IP_ADDRESSES: 10.0.0.0/40, x');
  });
});
