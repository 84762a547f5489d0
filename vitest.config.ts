import { defineConfig } from 'vitest/config';

// Two cores: files run in forks (the native addon and the kernel dislike worker threads
// sharing one process), at most two at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    // What a test sets with vi.stubEnv is undone before the next one.
    unstubEnvs: true,
    hookTimeout: 60_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/matchers.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
