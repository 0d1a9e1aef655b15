// SoftHSM2 reads SOFTHSM2_CONF from the real process environment when its module is initialised, and Jest hands
// test files a copy of process.env, so the variable is set here, before any test runs: a token folder of this
// run's own in a temporary directory. Each test file initialises its own token in it, selected by label.
const { mkdirSync, mkdtempSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-softhsm-'));
  mkdirSync(join(dir, 'tokens'));
  writeFileSync(
    join(dir, 'softhsm2.conf'),
    `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
};
