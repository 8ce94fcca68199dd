import { defineConfig } from 'vitest/config';

/**
 * `npm run test:chaos`: worker processes killed with SIGKILL, network cuts, poison messages, SIGTERM
 * under load. The files run one after another (each starts several processes; the machine has 2 cores).
 */
// CI sets CALSYNC_TEST_REPORT to collect a JSON report for its summary line.
const report = process.env.CALSYNC_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    reporters: report ? ['default', 'json'] : ['default'],
    ...(report ? { outputFile: { json: report } } : {}),
    testTimeout: 240_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
