import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectorySource } from './directory-source';
import type { FileParser } from './directory-source';
import type { Snapshot } from './snapshot';

/** A parser for the tests: a file is a JSON array of {c, n, v, bad?}; JSON syntax errors are file errors. */
const parse: FileParser<unknown> = (_file, text) => {
  const items = JSON.parse(text) as { c: string; n: string; v: unknown; bad?: string }[];
  return {
    resources: items.map((i) => ({ collection: i.c, name: i.n, value: i.v, errors: i.bad ? [i.bad] : [] })),
  };
};

function served(snapshot: Snapshot<unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [c, byName] of snapshot.collections) for (const [n, r] of byName) out[`${c} ${n}`] = r.value;
  return out;
}

describe('DirectorySource', () => {
  let dir: string;
  let source: DirectorySource<unknown>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'galley-dir-'));
  });
  afterEach(async () => {
    await source?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function start() {
    source = new DirectorySource({ dir, parse, debounceMs: 20 });
    return source.start();
  }

  function nextSnapshot(): Promise<[Snapshot<unknown>, Set<string>]> {
    return new Promise((resolve) => source.once('snapshot', (s, changed) => resolve([s, changed])));
  }

  it('serves the valid resources of every file in the folder tree and reports the invalid ones', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ c: 'VS', n: 'ns/a', v: 1 }]));
    writeFileSync(
      join(dir, 'sub', 'b.json'),
      JSON.stringify([{ c: 'DR', n: 'ns/b', v: 2, bad: 'spec.host: required' }]),
    );
    writeFileSync(join(dir, 'notes.txt'), 'not config');
    const snapshot = await start();
    expect(served(snapshot)).toEqual({ 'VS ns/a': 1 });
    expect(snapshot.rejections).toEqual([
      {
        origin: 'sub/b.json',
        collection: 'DR',
        name: 'ns/b',
        message: 'spec.host: required',
        keptLastGood: false,
      },
    ]);
  });

  it('publishes an edited file as one snapshot naming the changed collections', async () => {
    writeFileSync(
      join(dir, 'a.json'),
      JSON.stringify([
        { c: 'VS', n: 'ns/a', v: 1 },
        { c: 'DR', n: 'ns/a', v: 1 },
      ]),
    );
    await start();
    const next = nextSnapshot();
    writeFileSync(
      join(dir, 'a.json'),
      JSON.stringify([
        { c: 'VS', n: 'ns/a', v: 2 },
        { c: 'DR', n: 'ns/a', v: 1 },
      ]),
    );
    const [snapshot, changed] = await next;
    expect(served(snapshot)).toEqual({ 'VS ns/a': 2, 'DR ns/a': 1 });
    expect([...changed]).toEqual(['VS']);
    expect(snapshot.generation).toBe(2);
  });

  it('keeps serving a broken file’s last good resources, and says so', async () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ c: 'VS', n: 'ns/a', v: 1 }]));
    await start();
    const next = nextSnapshot();
    writeFileSync(join(dir, 'a.json'), '[{ broken');
    const [snapshot] = await next;
    expect(served(snapshot)).toEqual({ 'VS ns/a': 1 });
    expect(snapshot.rejections).toHaveLength(1);
    expect(snapshot.rejections[0]).toMatchObject({ origin: 'a.json', keptLastGood: true });
    expect(snapshot.rejections[0].message).toMatch(/JSON/);
  });

  it('keeps an invalid update’s last good version serving', async () => {
    writeFileSync(
      join(dir, 'a.json'),
      JSON.stringify([
        { c: 'VS', n: 'ns/a', v: 1 },
        { c: 'VS', n: 'ns/b', v: 1 },
      ]),
    );
    await start();
    const next = nextSnapshot();
    writeFileSync(
      join(dir, 'a.json'),
      JSON.stringify([
        { c: 'VS', n: 'ns/a', v: 9, bad: 'spec.http[0].route[0].weight: must be 0..100' },
        { c: 'VS', n: 'ns/b', v: 2 },
      ]),
    );
    const [snapshot] = await next;
    expect(served(snapshot)).toEqual({ 'VS ns/a': 1, 'VS ns/b': 2 });
    expect(snapshot.rejections).toEqual([
      {
        origin: 'a.json',
        collection: 'VS',
        name: 'ns/a',
        message: 'spec.http[0].route[0].weight: must be 0..100',
        keptLastGood: true,
      },
    ]);
  });

  it('removes a deleted file’s resources, and keeps a renamed file’s', async () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ c: 'VS', n: 'ns/a', v: 1 }]));
    writeFileSync(join(dir, 'b.json'), JSON.stringify([{ c: 'VS', n: 'ns/b', v: 1 }]));
    await start();
    let next = nextSnapshot();
    rmSync(join(dir, 'a.json'));
    expect(served((await next)[0])).toEqual({ 'VS ns/b': 1 });
    renameSync(join(dir, 'b.json'), join(dir, 'c.json'));
    // A rename changes no content: the folder is re-read and the same resource serves from its new file.
    await source.reload();
    expect(served(source.snapshot)).toEqual({ 'VS ns/b': 1 });
    expect(source.snapshot.rejections).toEqual([]);
    next = nextSnapshot();
    writeFileSync(join(dir, 'c.json'), JSON.stringify([]));
    expect(served((await next)[0])).toEqual({});
  });

  it('refuses non-UTF-8 and oversized files with a clear reason', async () => {
    writeFileSync(join(dir, 'latin1.yaml'), Buffer.from([0x5b, 0xe9, 0x5d]));
    writeFileSync(join(dir, 'big.json'), JSON.stringify([{ c: 'VS', n: 'ns/x', v: 'x'.repeat(2000) }]));
    source = new DirectorySource({ dir, parse, maxFileBytes: 1000 });
    const snapshot = await source.start();
    expect(snapshot.rejections.map((r) => `${r.origin}: ${r.message}`).sort()).toEqual([
      expect.stringMatching(/^big\.json: file is \d+ bytes; the limit is 1000$/),
      'latin1.yaml: not valid UTF-8',
    ]);
  });

  it('refuses a 20 MB file under the default limit, keeps its last good resources, and accumulates nothing', async () => {
    const file = join(dir, 'grows.json');
    writeFileSync(file, JSON.stringify([{ c: 'VS', n: 'ns/g', v: 'small' }]));
    writeFileSync(join(dir, 'other.json'), JSON.stringify([{ c: 'VS', n: 'ns/o', v: 1 }]));
    await start();
    const huge = JSON.stringify([{ c: 'VS', n: 'ns/g', v: 'x'.repeat(20 * 1024 * 1024) }]);
    // The same refusal over and over: the snapshot reports it once, and nothing piles up.
    for (let round = 0; round < 5; round++) {
      writeFileSync(file, round % 2 === 0 ? huge : `${huge} `);
      writeFileSync(join(dir, 'other.json'), JSON.stringify([{ c: 'VS', n: 'ns/o', v: round + 2 }]));
      while (served(source.snapshot)['VS ns/o'] !== round + 2) await nextSnapshot();
    }
    const snapshot = source.snapshot;
    expect(served(snapshot)).toEqual({ 'VS ns/g': 'small', 'VS ns/o': 6 });
    expect(snapshot.rejections).toEqual([
      {
        origin: 'grows.json',
        message: expect.stringMatching(/^file is 2097\d{4} bytes; the limit is 16777216$/),
        keptLastGood: true,
      },
    ]);
  });

  it('re-reads only the files that changed', async () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ c: 'VS', n: 'ns/a', v: 1 }]));
    writeFileSync(join(dir, 'b.json'), JSON.stringify([{ c: 'VS', n: 'ns/b', v: 1 }]));
    const parsedFiles: string[] = [];
    source = new DirectorySource({
      dir,
      parse: (file, text) => {
        parsedFiles.push(file.slice(dir.length + 1));
        return parse(file, text);
      },
      debounceMs: 20,
    });
    await source.start();
    const next = nextSnapshot();
    writeFileSync(join(dir, 'b.json'), JSON.stringify([{ c: 'VS', n: 'ns/b', v: 2 }]));
    expect(served((await next)[0])).toEqual({ 'VS ns/a': 1, 'VS ns/b': 2 });
    expect(parsedFiles).toEqual(['a.json', 'b.json', 'b.json']);
  });

  it('keeps the first of two resources with one name, naming both files', async () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ c: 'VS', n: 'ns/x', v: 'a' }]));
    writeFileSync(join(dir, 'b.json'), JSON.stringify([{ c: 'VS', n: 'ns/x', v: 'b' }]));
    const snapshot = await start();
    expect(served(snapshot)).toEqual({ 'VS ns/x': 'a' });
    expect(snapshot.rejections[0].message).toBe(
      'duplicate: ns/x is already defined in a.json; the first definition is kept',
    );
  });
});
