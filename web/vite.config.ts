/// <reference types="vitest/config" />
// Dev server, production build and unit tests. In development the BFF runs on :8080 and
// Vite proxies /graphql (HTTP and the /graphql/ws WebSocket) and /auth to it, so the app,
// the API and the cookies all share one origin, exactly as when the BFF serves web/dist.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const bff = process.env.SHOP_BFF_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      '/graphql': { target: bff, changeOrigin: false, ws: true },
      '/healthz': { target: bff },
      // The session endpoints (the HttpOnly refresh cookie is scoped to /auth).
      '/auth': { target: bff },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: false,
    // Read by scripts/bundle.mjs (first-load budget), which then removes it.
    manifest: true,
  },
  test: {
    environment: 'jsdom',
    globals: false,
    setupFiles: ['src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
