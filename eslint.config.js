// Lint rules that tsc cannot express: the layering of src/ (workers, arrow and the kafka
// wire client never import the coordinator) and a few correctness rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.local/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/workers/**/*.ts', 'src/arrow/**/*.ts', 'src/kafka/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/main/**', '../main/*', '../../main/*'], message: 'src/workers, src/arrow and src/kafka must not import src/main.' }] }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read environment variables only in entry points.' }],
    },
  },
);
