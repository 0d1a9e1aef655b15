module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'citadel',
  // SOFTHSM2_CONF for the PKCS #11 tests (see libs/pki/jest.softhsm.cjs).
  globalSetup: '../../libs/pki/jest.softhsm.cjs',
};
