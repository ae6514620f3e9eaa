import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'coverage/', 'oclif.manifest.json']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', URL: 'readonly', fetch: 'readonly', performance: 'readonly', Response: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly'},
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      '@typescript-eslint/consistent-type-imports': 'error',
      // agent and lib must not depend on the CLI framework or terminal styling.
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['src/agent/**/*.ts', 'src/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {paths: [
        {name: '@oclif/core', message: 'src/agent and src/lib never import oclif: commands → agent → lib.'},
        {name: 'chalk', message: 'src/agent and src/lib never style output: rendering belongs to src/commands.'},
        {name: 'ora', message: 'src/agent and src/lib never draw spinners: rendering belongs to src/commands.'},
      ], patterns: [{group: ['**/commands/**'], message: 'imports point one way: commands → agent → lib.'}]}],
    },
  },
  {
    files: ['src/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {paths: [
        {name: '@oclif/core', message: 'src/lib never imports oclif.'},
        {name: 'chalk', message: 'src/lib never styles output.'},
        {name: 'ora', message: 'src/lib never draws spinners.'},
      ], patterns: [{group: ['**/commands/**', '**/agent/**'], message: 'src/lib is the bottom layer: it never imports src/agent or src/commands.'}]}],
    },
  },
)
