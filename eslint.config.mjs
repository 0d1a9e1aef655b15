// One ESLint config for the whole workspace. Module boundaries follow Nx tags set in each project.json:
//   type:app    — deployable programs (apps/*); never imported by anything
//   type:lib    — shared libraries (libs/*)
//   type:proto  — generated protobuf code (libs/proto)
//   type:e2e    — tests that start real processes (e2e/, deploy/ tests, bench/)
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';

export default [
  {
    ignores: ['**/dist', '**/out-tsc', '**/coverage', '**/node_modules', '.nx', 'libs/proto/src/gen/**'],
  },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:proto'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:proto'] },
            { sourceTag: 'type:proto', onlyDependOnLibsWithTags: ['type:proto'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib', 'type:proto'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            // Benchmarks measure every part of the system.
            { sourceTag: 'scope:bench', onlyDependOnLibsWithTags: ['*'] },
            { sourceTag: 'scope:galley', onlyDependOnLibsWithTags: ['scope:galley', 'scope:shared'] },
            { sourceTag: 'scope:pilot', onlyDependOnLibsWithTags: ['scope:pilot', 'scope:shared'] },
            { sourceTag: 'scope:mixer', onlyDependOnLibsWithTags: ['scope:mixer', 'scope:shared'] },
            { sourceTag: 'scope:citadel', onlyDependOnLibsWithTags: ['scope:citadel', 'scope:shared'] },
          ],
        },
      ],
    },
  },
  {
    // Tool configs load the shared preset by relative path; that is not a project import.
    files: ['**/jest.config.cjs'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Used where a value is known to exist (a spawned child's piped stdio) and a check would only add noise.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  prettier,
];
