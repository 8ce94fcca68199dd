import { defineConfig } from 'vitest/config';

// CI sets CALSYNC_TEST_REPORT to collect a JSON report for its summary line; `npm test` is unchanged.
const report = process.env.CALSYNC_TEST_REPORT;

export default defineConfig({
  test: {
    reporters: report ? ['default', 'json'] : ['default'],
    ...(report ? { outputFile: { json: report } } : {}),
    include: ['test/**/*.test.ts'],
    exclude: ['test/chaos/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    // The AWS SDK warns on Node 20 about its 2027 releases; the README says so once, the tests need not.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
