/// <reference types="vitest/config" />
// Dev server, production build and unit tests. In development the BFF runs on :8080 and
// Vite proxies /graphql (HTTP and the /graphql/ws WebSocket) and /auth to it, so the app,
// the API and the cookies all share one origin, exactly as when the BFF serves web/dist.
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * The generated documents (src/gql/graphql.ts) are pretty-printed GraphQL, each with its
 * fragments: collapsing their whitespace keeps the same queries in fewer bytes (GraphQL
 * ignores whitespace; these documents hold no string literals).
 */
function compactGraphQLDocuments(): Plugin {
  return {
    name: 'shopmesh-compact-graphql-documents',
    apply: 'build',
    transform(code, id) {
      if (!id.replace(/\\/g, '/').endsWith('/src/gql/graphql.ts')) return null;
      return code.replace(/new TypedDocumentString\(`([^`]*)`/g, (_match, doc: string) => `new TypedDocumentString(\`${doc.replace(/\s+/g, ' ').trim()}\``);
    },
  };
}

const bff = process.env.SHOP_BFF_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react(), compactGraphQLDocuments()],
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
    rollupOptions: {
      output: {
        // Loaded with the first order page (src/api/orderFeed.ts), under its own name.
        manualChunks: (id) => (id.includes('/node_modules/graphql-ws/') ? 'graphql-ws' : undefined),
      },
    },
  },
  test: {
    environment: 'jsdom',
    globals: false,
    setupFiles: ['src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
