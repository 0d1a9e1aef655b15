// Shared Jest settings: TypeScript through @swc/jest (no type-checking here; `typecheck` targets do that), and
// workspace libraries resolved to their sources through the "@flotilla/source" export condition.
// @kubernetes/client-node 1.x and some of its dependencies, and @marcbachmann/cel-js (mixer's expressions), are ES
// modules, which Jest's CommonJS runtime cannot require on Node 20: they are compiled to CommonJS like our sources.
const ESM_PACKAGES = [
  '@kubernetes/client-node',
  'openid-client',
  'oauth4webapi',
  'jose',
  '@marcbachmann/cel-js',
];

module.exports = {
  testEnvironment: 'node',
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`],
  transform: {
    '^.+\\.(ts|js|mjs)$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testEnvironmentOptions: { customExportConditions: ['@flotilla/source', 'node', 'require', 'default'] },
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  // A handle left open by a test (a watch, a socket) must not hang CI: exit when the tests are done. Leaks are
  // hunted with `jest --detectOpenHandles`, not by waiting.
  forceExit: true,
};
