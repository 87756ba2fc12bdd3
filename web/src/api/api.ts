// The app's server state: one RTK Query API over the BFF's GraphQL endpoint. Catalog and
// order history page with Relay cursors (infinite queries: "Load more" asks for the page
// after `pageInfo.endCursor`); cart mutations write the cart they return straight into the
// cache; an open order follows `orderUpdated` live (see `order` below).
import { createApi } from '@reduxjs/toolkit/query/react';
import { graphqlBaseQuery } from './baseQuery';
import * as ops from '../gql/graphql';
import { openOrderFeed } from './orderFeed';
import type { GraphQLRequest, TypedDocument } from './graphql';
import type {
  SessionPayload,
  Cart,
  CategoryCount,
  CheckoutInput,
  Connection,
  Order,
  OrderSummary,
  Product,
  ProductCard,
  ProductInput,
  ProductPatch,
  RegisterInput,
  StockLevel,
  User,
} from './models';
import { isFinal } from '../lib/orders';
import { endSession } from './session';
import { signedIn, signedOut, userLoaded, type AuthState } from '../store/authSlice';

export const PRODUCT_PAGE_SIZE = 24;
export const ORDER_PAGE_SIZE = 10;
/** How often an open order is re-read when its live feed failed. */
export const ORDER_POLL_MS = 3000;
/** When to re-read the cart after an order is confirmed (its items leave it asynchronously). */
export const CART_RECHECK_MS = [1500, 5000];

export interface ProductFilter {
  search?: string;
  category?: string;
}

/** A request for a generated document: the variables are checked against the operation's. */
function gql<Result, Variables>(
  document: TypedDocument<Result, Variables>,
  variables: Variables,
  anonymous = false,
): GraphQLRequest {
  return { document, variables: variables as Record<string, unknown>, anonymous };
}

/** Drops empty filters so "" and undefined share one cache entry and send nothing. */
function filterVariables(filter: ProductFilter): Record<string, string> {
  const out: Record<string, string> = {};
  const search = filter.search?.trim();
  const category = filter.category?.trim();
  if (search) out.search = search;
  if (category) out.category = category;
  return out;
}

export const api = createApi({
  reducerPath: 'api',
  baseQuery: graphqlBaseQuery(),
  tagTypes: ['Me', 'Cart', 'Order', 'Product'],
  endpoints: (build) => ({
    me: build.query<User | null, void>({
      query: () => gql(ops.MeDocument, {}),
      transformResponse: (data: ops.MeQuery) => data.me,
      providesTags: ['Me'],
      async onQueryStarted(_arg, { dispatch, queryFulfilled }) {
        try {
          const { data } = await queryFulfilled;
          dispatch(userLoaded(data));
        } catch {
          // The baseQuery already signed out if the session is gone.
        }
      },
    }),

    products: build.infiniteQuery<Connection<ProductCard>, ProductFilter, string | null>({
      infiniteQueryOptions: {
        initialPageParam: null,
        getNextPageParam: (last) => (last.pageInfo.hasNextPage ? last.pageInfo.endCursor : undefined),
      },
      query: ({ queryArg, pageParam }) =>
        gql(ops.ProductsDocument, { first: PRODUCT_PAGE_SIZE, after: pageParam, ...filterVariables(queryArg) }),
      transformResponse: (data: ops.ProductsQuery) => data.products,
      providesTags: [{ type: 'Product', id: 'LIST' }],
    }),

    /** The catalog's categories with their product counts, from the Product service (not
     * derived from a page of products: every category appears, however many there are). */
    categories: build.query<CategoryCount[], void>({
      query: () => gql(ops.CategoriesDocument, {}),
      transformResponse: (data: ops.CategoriesQuery) => [...data.categories].sort((a, b) => a.slug.localeCompare(b.slug)),
      providesTags: [{ type: 'Product', id: 'LIST' }],
    }),

    product: build.query<Product | null, string>({
      query: (sku) => gql(ops.ProductDocument, { sku }),
      transformResponse: (data: ops.ProductQuery) => data.product,
      providesTags: (_result, _error, sku) => [{ type: 'Product', id: sku }],
    }),

    cart: build.query<Cart, void>({
      query: () => gql(ops.CartDocument, {}),
      transformResponse: (data: ops.CartQuery) => data.cart,
      providesTags: ['Cart'],
    }),

    addToCart: build.mutation<Cart, { sku: string; quantity: number }>({
      query: (vars) => gql(ops.AddToCartDocument, vars),
      transformResponse: (data: ops.AddToCartMutation) => data.addToCart,
      onQueryStarted: (_arg, lifecycle) => storeCart(lifecycle),
    }),

    updateCartItem: build.mutation<Cart, { sku: string; quantity: number }>({
      query: (vars) => gql(ops.UpdateCartItemDocument, vars),
      transformResponse: (data: ops.UpdateCartItemMutation) => data.updateCartItem,
      onQueryStarted: (_arg, lifecycle) => storeCart(lifecycle),
    }),

    removeFromCart: build.mutation<Cart, { sku: string }>({
      query: (vars) => gql(ops.RemoveFromCartDocument, vars),
      transformResponse: (data: ops.RemoveFromCartMutation) => data.removeFromCart,
      onQueryStarted: (_arg, lifecycle) => storeCart(lifecycle),
    }),

    register: build.mutation<SessionPayload, RegisterInput>({
      query: (input) => gql(ops.RegisterDocument, { input }, true),
      transformResponse: (data: ops.RegisterMutation) => data.register,
      onQueryStarted: (_arg, lifecycle) => signIn(lifecycle),
    }),

    login: build.mutation<SessionPayload, { email: string; password: string }>({
      query: (vars) => gql(ops.LoginDocument, vars, true),
      transformResponse: (data: ops.LoginMutation) => data.login,
      onQueryStarted: (_arg, lifecycle) => signIn(lifecycle),
    }),

    /** Revokes the session server-side (best effort) and forgets it here in any case. */
    logout: build.mutation<boolean, void>({
      queryFn: async (_arg, queryApi) => {
        await endSession();
        queryApi.dispatch(signedOut());
        return { data: true };
      },
    }),

    /** Every other session of the user ends; this one continues with the fresh tokens. */
    changePassword: build.mutation<SessionPayload, { currentPassword: string; newPassword: string }>({
      query: (vars) => gql(ops.ChangePasswordDocument, vars),
      transformResponse: (data: ops.ChangePasswordMutation) => data.changePassword,
      onQueryStarted: (_arg, lifecycle) => signIn(lifecycle),
    }),

    checkout: build.mutation<Order, CheckoutInput>({
      query: (input) => gql(ops.CheckoutDocument, { input }),
      transformResponse: (data: ops.CheckoutMutation) => data.checkout,
      invalidatesTags: (result) => (result ? [{ type: 'Order', id: 'LIST' }] : []),
      async onQueryStarted(_arg, { dispatch, queryFulfilled }) {
        try {
          const { data } = await queryFulfilled;
          dispatch(api.util.upsertQueryEntries([{ endpointName: 'order', arg: data.id, value: data }]));
        } catch {
          // The page shows the error.
        }
      },
    }),

    /**
     * One order, kept current by the `orderUpdated` subscription for as long as a component
     * uses it (RTK Query streaming updates). If the live feed fails, the order is re-read
     * every few seconds instead until it reaches a final state.
     */
    order: build.query<Order | null, string>({
      query: (id) => gql(ops.OrderDocument, { id }),
      transformResponse: (data: ops.OrderQuery) => data.order,
      providesTags: (_result, _error, id) => [{ type: 'Order', id }],
      async onCacheEntryAdded(
        id,
        { cacheDataLoaded, cacheEntryRemoved, updateCachedData, getCacheEntry, getState, dispatch },
      ) {
        try {
          await cacheDataLoaded;
        } catch {
          return; // removed before it loaded
        }
        const initial = getCacheEntry().data;
        if (!initial || isFinal(initial.status)) return;

        let poll: ReturnType<typeof setInterval> | undefined;
        let stopped = false;
        const stopPolling = () => {
          if (poll !== undefined) clearInterval(poll);
          poll = undefined;
        };
        const later: ReturnType<typeof setTimeout>[] = [];
        const settled = (order: Order) => {
          if (!isFinal(order.status)) return;
          stopPolling();
          dispatch(api.util.invalidateTags(['Cart', { type: 'Order', id: 'LIST' }]));
          if (order.status === 'CONFIRMED') {
            // The Cart service removes what was bought when it consumes OrderConfirmed,
            // a moment after the order itself says CONFIRMED: look again shortly.
            for (const ms of CART_RECHECK_MS) later.push(setTimeout(() => dispatch(api.util.invalidateTags(['Cart'])), ms));
          }
        };
        const startPolling = () => {
          if (stopped || poll !== undefined) return;
          poll = setInterval(() => {
            const current = getCacheEntry().data;
            if (current && isFinal(current.status)) {
              stopPolling();
              return;
            }
            void dispatch(api.endpoints.order.initiate(id, { subscribe: false, forceRefetch: true }))
              .unwrap()
              .then((order) => {
                if (order) settled(order);
              })
              .catch(() => undefined);
          }, ORDER_POLL_MS);
        };

        const close = openOrderFeed(id, () => (getState() as unknown as { auth: AuthState }).auth.accessToken, {
          next(order) {
            updateCachedData((draft) => (draft && draft.version > order.version ? draft : order));
            settled(order);
          },
          error() {
            startPolling();
          },
          complete() {
            const current = getCacheEntry().data;
            if (current && !isFinal(current.status)) startPolling();
          },
        });
        await cacheEntryRemoved;
        stopped = true;
        stopPolling();
        later.forEach(clearTimeout);
        close();
      },
    }),

    orders: build.infiniteQuery<Connection<OrderSummary>, void, string | null>({
      infiniteQueryOptions: {
        initialPageParam: null,
        getNextPageParam: (last) => (last.pageInfo.hasNextPage ? last.pageInfo.endCursor : undefined),
      },
      query: ({ pageParam }) => gql(ops.OrdersDocument, { first: ORDER_PAGE_SIZE, after: pageParam }),
      transformResponse: (data: ops.OrdersQuery) => data.orders,
      providesTags: [{ type: 'Order', id: 'LIST' }],
    }),

    cancelOrder: build.mutation<Order, { id: string; reason?: string }>({
      query: (vars) => gql(ops.CancelOrderDocument, vars),
      transformResponse: (data: ops.CancelOrderMutation) => data.cancelOrder,
      invalidatesTags: (result) => (result ? [{ type: 'Order', id: 'LIST' }] : []),
      async onQueryStarted({ id }, { dispatch, queryFulfilled }) {
        try {
          const { data } = await queryFulfilled;
          dispatch(api.util.upsertQueryEntries([{ endpointName: 'order', arg: id, value: data }]));
        } catch {
          // The page shows the error.
        }
      },
    }),

    createProduct: build.mutation<Product, ProductInput>({
      query: (input) => gql(ops.CreateProductDocument, { input }),
      transformResponse: (data: ops.CreateProductMutation) => data.createProduct,
      invalidatesTags: (result) => (result ? [{ type: 'Product', id: 'LIST' }] : []),
    }),

    updateProduct: build.mutation<Product, { id: string; sku: string; input: ProductPatch; expectedVersion?: number }>({
      query: ({ id, input, expectedVersion }) => gql(ops.UpdateProductDocument, { id, input, expectedVersion }),
      transformResponse: (data: ops.UpdateProductMutation) => data.updateProduct,
      invalidatesTags: (result) => (result ? [{ type: 'Product', id: 'LIST' }, 'Cart'] : []),
      async onQueryStarted({ sku }, { dispatch, queryFulfilled }) {
        try {
          const { data } = await queryFulfilled;
          dispatch(api.util.upsertQueryEntries([{ endpointName: 'product', arg: sku, value: data }]));
        } catch {
          // The form shows the error.
        }
      },
    }),

    setStock: build.mutation<StockLevel, { sku: string; onHand: number }>({
      query: (vars) => gql(ops.SetStockDocument, vars),
      transformResponse: (data: ops.SetStockMutation) => data.setStock,
      invalidatesTags: (result) => (result ? [{ type: 'Product', id: 'LIST' }, 'Cart'] : []),
      async onQueryStarted({ sku }, { dispatch, queryFulfilled }) {
        try {
          const { data } = await queryFulfilled;
          dispatch(
            api.util.updateQueryData('product', sku, (draft) => {
              if (draft) draft.stock = data;
            }),
          );
        } catch {
          // The form shows the error.
        }
      },
    }),
  }),
});

interface Fulfilled<T> {
  dispatch: (action: unknown) => unknown;
  queryFulfilled: Promise<{ data: T }>;
}

/** A cart mutation's answer is the whole cart: put it where the `cart` query keeps it. */
async function storeCart({ dispatch, queryFulfilled }: Fulfilled<Cart>): Promise<void> {
  try {
    const { data } = await queryFulfilled;
    dispatch(api.util.upsertQueryEntries([{ endpointName: 'cart', arg: undefined, value: data }]));
  } catch {
    // The component shows the error.
  }
}

async function signIn({ dispatch, queryFulfilled }: Fulfilled<SessionPayload>): Promise<void> {
  try {
    const { data } = await queryFulfilled;
    dispatch(signedIn(data));
  } catch {
    // The form shows the error.
  }
}

export const {
  useMeQuery,
  useProductsInfiniteQuery,
  useCategoriesQuery,
  useProductQuery,
  useCartQuery,
  useAddToCartMutation,
  useChangePasswordMutation,
  useUpdateCartItemMutation,
  useRemoveFromCartMutation,
  useRegisterMutation,
  useLoginMutation,
  useLogoutMutation,
  useCheckoutMutation,
  useOrderQuery,
  useOrdersInfiniteQuery,
  useCancelOrderMutation,
  useCreateProductMutation,
  useUpdateProductMutation,
  useSetStockMutation,
} = api;
