module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'pki',
  globalSetup: './jest.softhsm.cjs',
};
