module.exports = {
  ...require('../jest.preset.cjs'),
  displayName: 'deploy',
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
};
