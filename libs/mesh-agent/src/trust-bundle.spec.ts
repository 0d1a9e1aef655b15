import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSoftwareRoot, derToPem } from '@flotilla/pki';
import { tempDir, waitFor } from '@flotilla/testing';
import { TrustBundleError, TrustBundleFile } from './trust-bundle';

const rootPem = async () =>
  derToPem((await createSoftwareRoot('cluster.local', Date.now())).certificate, 'CERTIFICATE');

/** A trust bundle file holding `contents`, in a folder of its own. */
function bundleFile(contents: string): string {
  const path = join(tempDir('flotilla-trust-bundle-'), 'trust-bundle.pem');
  writeFileSync(path, contents);
  return path;
}

describe('TrustBundleFile', () => {
  it('re-reads the file and reports a changed bundle once, however it was replaced', async () => {
    const [root1, root2] = [await rootPem(), await rootPem()];
    const path = bundleFile(root1);
    const file = new TrustBundleFile(path, 20);
    const seen: string[] = [];
    const stop = file.watch((pem) => seen.push(pem));
    try {
      // Replaced by rename, as citadel and the mesh agent write files.
      writeFileSync(`${path}.tmp`, root1 + root2);
      renameSync(`${path}.tmp`, path);
      await waitFor('the changed bundle', () => seen.length === 1, 5000, 20);
      expect(seen).toEqual([root1 + root2]);
      expect(file.read()).toBe(root1 + root2);
      // Rewritten with the same contents: nothing to report.
      writeFileSync(path, root1 + root2);
      await new Promise((r) => setTimeout(r, 200));
      expect(seen).toHaveLength(1);
    } finally {
      stop();
    }
  }, 15_000);

  it('refuses a file that is not a bundle with an error naming the file and what is wrong: empty, no PEM certificate, an unterminated or unparsable certificate #N', async () => {
    const good = await rootPem();
    const cases: [string, string][] = [
      ['', 'empty, expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)'],
      ['\n  \n', 'empty, expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)'],
      ['root-1\n', 'no PEM certificate (no -----BEGIN CERTIFICATE----- line)'],
      [`${good}-----BEGIN CERTIFICATE-----\nMIIB\n`, 'certificate #2 has no -----END CERTIFICATE----- line'],
      [`-----BEGIN CERTIFICATE-----\nMIIB\n${good}`, 'certificate #1 has no -----END CERTIFICATE----- line'],
      [
        `${good}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`,
        'certificate #2 cannot be parsed: ',
      ],
    ];
    for (const [contents, problem] of cases) {
      const path = bundleFile(contents);
      let thrown: unknown;
      try {
        new TrustBundleFile(path);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(TrustBundleError);
      expect(thrown).toMatchObject({ source: path });
      expect((thrown as Error).message.startsWith(`trust bundle ${path}: ${problem}`)).toBe(true);
    }
    const missing = join(tempDir('flotilla-trust-bundle-'), 'absent.pem');
    expect(() => new TrustBundleFile(missing)).toThrow(missing);
  });

  it('keeps serving the last good bundle when the file turns into something else, and reports that once to onInvalid, naming the file', async () => {
    const [root1, root2] = [await rootPem(), await rootPem()];
    const path = bundleFile(root1);
    const file = new TrustBundleFile(path, 20);
    const seen: string[] = [];
    const invalid: string[] = [];
    const stop = file.watch(
      (pem) => seen.push(pem),
      (err) => invalid.push(err.message),
    );
    try {
      writeFileSync(path, '');
      await waitFor('the empty bundle reported', () => invalid.length === 1, 5000, 20);
      expect(invalid).toEqual([
        `trust bundle ${path}: empty, expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)`,
      ]);
      expect(file.read()).toBe(root1);
      writeFileSync(path, root1 + root2);
      await waitFor('the good bundle', () => seen.length === 1, 5000, 20);
      expect(seen).toEqual([root1 + root2]);
      expect(invalid).toHaveLength(1);
    } finally {
      stop();
    }
  }, 15_000);
});
