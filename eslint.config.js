// ESLint: typescript-eslint recommended, plus the rule that keeps the pure core pure:
// src/threading and src/calendar import no database, mail, cron or template library.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioLibraries = [
  'kysely', 'pg', 'mailparser', 'imapflow', 'nodemailer',
  'smtp-server', 'handlebars', 'node-cron', 'pino', 'node:fs', 'fs', 'node:net', 'node:child_process',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'var/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/threading/**/*.ts', 'src/calendar/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ioLibraries.map((name) => ({ name, message: 'The pure core takes plain data; do I/O at the edges.' })),
        patterns: [{ group: ['**/db/**', '**/notify/**', '**/ingest/**', '**/schedule/**', '**/cases/**'], message: 'The pure core must not reach into I/O modules.' }],
      }],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Time is an argument: take `now`, do not read the clock.' },
        { selector: "MemberExpression[object.name='Date'][property.name='now']", message: 'Time is an argument: take `now`, do not read the clock.' },
      ],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Configuration is passed in.' }],
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.{js,mjs}'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
