// The end-to-end run: a real Chromium (playwright-core) against the running stack. Not part
// of `vitest run` (unit tests); `scripts/web.sh e2e` runs it with SHOP_WEB_URL set.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['e2e/**/*.e2e.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    reporters: ['verbose'],
  },
});
