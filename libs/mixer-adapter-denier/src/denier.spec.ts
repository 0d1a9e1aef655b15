import { AdapterHarness, Code, ParamsError } from '@flotilla/mixer-adapter-sdk';
import { denierAdapter } from './denier';

describe('denier adapter', () => {
  it('answers every check with the configured status, validity and use count', async () => {
    const h = await AdapterHarness.start(denierAdapter, {
      status: { code: 7, message: 'banned user' },
      validDuration: '10s',
      validUseCount: 3,
    });
    expect(await h.check('checknothing', {})).toEqual({
      status: { code: Code.PERMISSION_DENIED, message: 'banned user' },
      validDurationMs: 10_000,
      validUseCount: 3,
    });
    expect((await h.check('listentry', { value: 'x' })).status.code).toBe(Code.PERMISSION_DENIED);
  });

  it("defaults to Istio's FAILED_PRECONDITION for 5 s and 1000 uses", async () => {
    const h = await AdapterHarness.start(denierAdapter, {});
    expect(await h.check('checknothing', {})).toEqual({
      status: { code: Code.FAILED_PRECONDITION, message: '' },
      validDurationMs: 5000,
      validUseCount: 1000,
    });
  });

  it('grants no quota', async () => {
    const h = await AdapterHarness.start(denierAdapter, { status: { code: 7 } });
    const r = await h.quota({ dimensions: {} }, { amount: 5 });
    expect(r.amount).toBe(0);
    expect(r.status.code).toBe(Code.PERMISSION_DENIED);
  });

  it('refuses bad params, naming every bad field', () => {
    let err: unknown;
    try {
      denierAdapter.validate({ status: { code: 99 }, validDuration: 'soon', colour: 'red' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParamsError);
    expect((err as ParamsError).problems).toEqual([
      'colour: unknown field (known: status, validDuration, validUseCount)',
      'status.code: must be a google.rpc.Code (0-16)',
      'validDuration: expected a duration such as "10s" or "1m", got "soon"',
    ]);
  });
});
