import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests create namespaces, mounts and cgroups: keep them in one process at a
    // time so leak checks (mountinfo, cgroups, processes) see only their own test's objects.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    globalSetup: ['test/setup/global.ts'],
  },
});
