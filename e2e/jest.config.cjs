module.exports = {
  ...require('../jest.preset.cjs'),
  displayName: 'e2e',
  // Each test starts real processes; the first start of a cold machine can take several seconds.
  testTimeout: 90_000,
};
