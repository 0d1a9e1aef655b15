import { AdapterHarness, Code } from '@flotilla/mixer-adapter-sdk';
import { createMemQuotaAdapter } from './memquota';

const params = {
  quotas: [
    {
      name: 'requestcount.quota.istio-system',
      maxAmount: 5,
      validDuration: '10s',
      overrides: [{ dimensions: { destination: 'ratings' }, maxAmount: 1 }],
    },
  ],
};
const instance = 'requestcount.istio-system';

describe('memquota adapter', () => {
  let clock = 1_000_000;
  const start = () =>
    AdapterHarness.start(
      createMemQuotaAdapter(() => clock),
      params,
    );

  it('admits exactly maxAmount per window, then refuses with RESOURCE_EXHAUSTED', async () => {
    const h = await start();
    const granted: number[] = [];
    for (let i = 0; i < 8; i++)
      granted.push((await h.quota({ dimensions: { destination: 'reviews' } }, {}, instance)).amount);
    expect(granted).toEqual([1, 1, 1, 1, 1, 0, 0, 0]);
    const last = h.calls.at(-1)!.result!;
    expect(last.status.code).toBe(Code.RESOURCE_EXHAUSTED);
  });

  it('forgets allocations as the rolling window moves on', async () => {
    const h = await start();
    for (let i = 0; i < 5; i++) await h.quota({ dimensions: { destination: 'details' } }, {}, instance);
    expect((await h.quota({ dimensions: { destination: 'details' } }, {}, instance)).amount).toBe(0);
    clock += 10_000;
    expect((await h.quota({ dimensions: { destination: 'details' } }, {}, instance)).amount).toBe(1);
  });

  it('applies the first matching override, and counts each dimension combination separately', async () => {
    const h = await start();
    expect((await h.quota({ dimensions: { destination: 'ratings' } }, {}, instance)).amount).toBe(1);
    expect((await h.quota({ dimensions: { destination: 'ratings' } }, {}, instance)).amount).toBe(0);
    expect((await h.quota({ dimensions: { destination: 'productpage' } }, {}, instance)).amount).toBe(1);
  });

  it('grants what is left to best-effort requests and nothing to all-or-nothing ones', async () => {
    const h = await start();
    expect((await h.quota({ dimensions: { d: 'x' } }, { amount: 3 }, instance)).amount).toBe(3);
    expect((await h.quota({ dimensions: { d: 'x' } }, { amount: 3 }, instance)).amount).toBe(0);
    expect(
      (await h.quota({ dimensions: { d: 'x' } }, { amount: 3, bestEffort: true }, instance)).amount,
    ).toBe(2);
  });

  it('answers a retried deduplication id the same way without counting it again', async () => {
    const h = await start();
    for (let i = 0; i < 4; i++)
      await h.quota({ dimensions: { d: 'y' } }, { deduplicationId: 'same' }, instance);
    expect((await h.quota({ dimensions: { d: 'y' } }, { amount: 4 }, instance)).amount).toBe(4);
  });

  it('does not limit quotas it has no limit for', async () => {
    const h = await start();
    expect((await h.quota({ dimensions: {} }, { amount: 1000 }, 'other.istio-system')).amount).toBe(1000);
  });
});
