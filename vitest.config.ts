import { defineConfig } from 'vitest/config';

// KafkaJS prints a partitioner notice on every producer otherwise; we pass one explicitly.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
// kafkajs 2.2.4 schedules negative timeouts, which Node 24 reports on every request queue.
process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, '--disable-warning=TimeoutNegativeWarning']
  .filter(Boolean)
  .join(' ');

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 10_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/setup/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Two cores: more parallel files than this only adds rebalance and CPU contention.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
