// The Apollo peer of `just bench` (issue #9): the catalog subset of shopmesh's GraphQL API
// (`product(id:, sku:)` and `products(first:, after:, search:, category:)` with `stock` and
// `price`), served by @apollo/server over the same gRPC services the Rust BFF calls, written
// the way Apollo's documentation recommends: schema-first SDL and resolvers, a DataLoader
// per request so a page's stock is one BatchGetStock call, production mode (no
// introspection, no landing page, no stack traces), one process per core (node:cluster).
//
// Env: PORT (4000), HOST (127.0.0.1), SHOP_PRODUCT_URL / SHOP_INVENTORY_URL (the BFF's
// defaults), SHOP_PROTO_DIR (the repo's proto/), APOLLO_WORKERS (default: one per core),
// UPSTREAM_DEADLINE_MS (3000, the BFF's upstream_deadline_ms).
// `node server.js --check` loads the protos and the schema and exits (CI smoke).

import cluster from 'node:cluster';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';

const here = path.dirname(fileURLToPath(import.meta.url));
const PROTO_DIR = process.env.SHOP_PROTO_DIR ?? path.resolve(here, '../../../proto');
const PORT = Number(process.env.PORT ?? 4000);
const HOST = process.env.HOST ?? '127.0.0.1';
const PRODUCT_URL = process.env.SHOP_PRODUCT_URL ?? 'http://127.0.0.1:50052';
const INVENTORY_URL = process.env.SHOP_INVENTORY_URL ?? 'http://127.0.0.1:50053';
const DEADLINE_MS = Number(process.env.UPSTREAM_DEADLINE_MS ?? 3000);
const WORKERS = Number(process.env.APOLLO_WORKERS ?? os.availableParallelism());
// The BFF's paging rules (bff/src/schema/types.rs): default 20, at most 100.
const DEFAULT_PAGE = 20;
const MAX_PAGE = 100;
// Largest BatchGetStock per call, as the BFF's loaders (Inventory caps at 200).
const MAX_BATCH = 100;

// Copied from bff/schema.graphql (the catalog subset), so one query text runs on both.
const typeDefs = `#graphql
  "An amount in minor units of an ISO 4217 currency, with a display form (\\"12.50 EUR\\")."
  type Money {
    amountMinor: Int!
    currency: String!
    formatted: String!
  }

  "A SKU's stock: \`available = onHand - reserved\`."
  type StockLevel {
    sku: String!
    onHand: Int!
    reserved: Int!
    available: Int!
  }

  type Product {
    id: ID!
    sku: String!
    name: String!
    description: String!
    price: Money!
    category: String!
    imageUrl: String!
    archived: Boolean!
    version: Int!
    createdAt: String
    updatedAt: String
    stock: StockLevel
  }

  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }

  type ProductEdge {
    cursor: String!
    node: Product!
  }

  type ProductConnection {
    edges: [ProductEdge!]!
    pageInfo: PageInfo!
  }

  type Query {
    product(id: ID, sku: String): Product
    products(first: Int, after: String, search: String, category: String): ProductConnection!
  }
`;

function loadServices() {
  const definition = protoLoader.loadSync(
    ['shop/product/v1/product.proto', 'shop/inventory/v1/inventory.proto'],
    {
      includeDirs: [PROTO_DIR],
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  );
  const shop = grpc.loadPackageDefinition(definition).shop;
  const target = (url) => url.replace(/^https?:\/\//, '');
  // Keepalive as the BFF's channels; one HTTP/2 connection per service per process.
  const options = { 'grpc.keepalive_time_ms': 30000 };
  const insecure = grpc.credentials.createInsecure();
  return {
    products: new shop.product.v1.ProductService(target(PRODUCT_URL), insecure, options),
    inventory: new shop.inventory.v1.InventoryService(target(INVENTORY_URL), insecure, options),
  };
}

/** A unary call as a promise, with the BFF's per-call deadline. */
function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + DEADLINE_MS }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
  });
}

/** A gRPC failure as a GraphQL error with a code, as the BFF reports it. */
function fromStatus(error) {
  const codes = {
    [grpc.status.INVALID_ARGUMENT]: 'BAD_USER_INPUT',
    [grpc.status.NOT_FOUND]: 'NOT_FOUND',
    [grpc.status.DEADLINE_EXCEEDED]: 'TIMEOUT',
    [grpc.status.UNAVAILABLE]: 'UNAVAILABLE',
  };
  return new GraphQLError(error.details || error.message, {
    extensions: { code: codes[error.code] ?? 'INTERNAL' },
  });
}

// Money.formatted as shop_kit::Money's Display: "12.50 EUR", "1500 JPY".
const ZERO_DIGIT = new Set(['JPY', 'KRW']);
function formatMoney(amountMinor, currency) {
  const sign = amountMinor < 0 ? '-' : '';
  const magnitude = Math.abs(amountMinor);
  if (ZERO_DIGIT.has(currency)) return `${sign}${magnitude} ${currency}`;
  const whole = Math.floor(magnitude / 100);
  const cents = String(magnitude % 100).padStart(2, '0');
  return `${sign}${whole}.${cents} ${currency}`;
}

function timestamp(ts) {
  if (!ts) return null;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)).toISOString();
}

// The BFF's Relay cursor over page tokens: base64url JSON {"t": token, "s": skip}.
function encodeCursor(token, skip) {
  return Buffer.from(JSON.stringify({ t: token, s: skip })).toString('base64url');
}
function decodeCursor(raw) {
  try {
    const cursor = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (typeof cursor.t === 'string' && Number.isInteger(cursor.s) && cursor.s >= 0 && cursor.s <= MAX_PAGE) {
      return { token: cursor.t, skip: cursor.s };
    }
  } catch {
    // fall through
  }
  throw new GraphQLError('after: is not a cursor from this API', {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

function pageSize(first) {
  if (first == null) return DEFAULT_PAGE;
  if (first >= 1 && first <= MAX_PAGE) return first;
  throw new GraphQLError(`first: must be between 1 and ${MAX_PAGE}`, {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

/** The per-request loaders: every Product.stock of one request is one BatchGetStock. */
function loaders(services) {
  return {
    stock: new DataLoader(
      async (skus) => {
        let reply;
        try {
          reply = await unary(services.inventory, 'BatchGetStock', { skus: [...skus] });
        } catch (error) {
          throw fromStatus(error);
        }
        const bySku = new Map(reply.levels.map((level) => [level.sku, level]));
        // A SKU never stocked shows as zero (Inventory's contract, as in the BFF).
        return skus.map((sku) => bySku.get(sku) ?? { sku, onHand: 0, reserved: 0, available: 0 });
      },
      { maxBatchSize: MAX_BATCH },
    ),
  };
}

const resolvers = {
  Query: {
    async product(_, { id, sku }, { services }) {
      if ((id == null) === (sku == null)) {
        throw new GraphQLError('id: give exactly one of id and sku', {
          extensions: { code: 'BAD_USER_INPUT' },
        });
      }
      try {
        const reply = await unary(services.products, 'GetProduct', id != null ? { id } : { sku });
        return reply.product ?? null;
      } catch (error) {
        if (error.code === grpc.status.NOT_FOUND) return null;
        throw fromStatus(error);
      }
    },
    async products(_, { first, after, search, category }, { services }) {
      const size = pageSize(first);
      const cursor = after != null ? decodeCursor(after) : { token: '', skip: 0 };
      let reply;
      try {
        reply = await unary(services.products, 'ListProducts', {
          pageSize: size + cursor.skip + 1,
          pageToken: cursor.token,
          category: category ?? '',
          search: search ?? '',
        });
      } catch (error) {
        throw fromStatus(error);
      }
      const items = reply.products.slice(cursor.skip);
      const moreInThisFetch = items.length > size;
      const page = items.slice(0, size);
      const next = reply.nextPageToken;
      const edges = page.map((node, index) => ({
        cursor:
          index + 1 === page.length && !moreInThisFetch && next
            ? encodeCursor(next, 0)
            : encodeCursor(cursor.token, cursor.skip + index + 1),
        node,
      }));
      return {
        edges,
        pageInfo: {
          hasNextPage: moreInThisFetch || next !== '',
          endCursor: edges.length ? edges[edges.length - 1].cursor : null,
        },
      };
    },
  },
  Product: {
    price: (product) => {
      const amountMinor = Number(product.price?.amountMinor ?? 0);
      const currency = product.price?.currency || 'EUR';
      return { amountMinor, currency, formatted: formatMoney(amountMinor, currency) };
    },
    createdAt: (product) => timestamp(product.createdAt),
    updatedAt: (product) => timestamp(product.updatedAt),
    stock: (product, _, { loaders }) => loaders.stock.load(product.sku),
  },
};

async function serve() {
  const services = loadServices();
  const server = new ApolloServer({
    typeDefs,
    resolvers,
    // Production, as Apollo's docs deploy it: no introspection, no landing page; stack
    // traces are already left out when NODE_ENV=production.
    introspection: false,
    plugins: [ApolloServerPluginLandingPageDisabled()],
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: PORT, host: HOST },
    context: async () => ({ services, loaders: loaders(services) }),
  });
  return url;
}

if (process.argv.includes('--check')) {
  loadServices();
  new ApolloServer({ typeDefs, resolvers });
  console.log('apollo peer: protos and schema load');
} else if (WORKERS > 1 && cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i += 1) cluster.fork();
  cluster.on('exit', (worker, code) => {
    console.error(`apollo peer: worker ${worker.process.pid} exited (${code})`);
    process.exitCode = 1;
  });
  const stop = () => {
    for (const worker of Object.values(cluster.workers)) worker.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(
    `apollo peer: ${WORKERS} workers on http://${HOST}:${PORT}/ (NODE_ENV=${process.env.NODE_ENV ?? 'unset'})`,
  );
} else {
  serve().then(
    (url) => {
      if (WORKERS <= 1) {
        console.log(`apollo peer: ready at ${url} (NODE_ENV=${process.env.NODE_ENV ?? 'unset'})`);
      }
    },
    (error) => {
      console.error('apollo peer: failed to start', error);
      process.exit(1);
    },
  );
}
