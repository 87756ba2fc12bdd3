// Test helpers: a fake BFF (fetch answering by GraphQL operation name) and rendering with
// a fresh store and router.
import type { ReactElement } from 'react';
import { render } from '@testing-library/react';
import { Provider } from 'react-redux';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { vi } from 'vitest';
import { makeStore } from '../store/store';
import type { AuthState } from '../store/authSlice';
import type { Cart, Money, Order, Product, User } from '../api/models';

export interface SentRequest {
  operationName: string;
  variables: Record<string, unknown>;
  headers: Record<string, string>;
  credentials: RequestCredentials | undefined;
}

type Handler = (variables: Record<string, unknown>, request: SentRequest) => unknown | Promise<unknown>;

/** A JSON response; `status` and `headers` for refusals. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

export function gqlError(code: string, message = code, extensions: Record<string, unknown> = {}) {
  return { data: null, errors: [{ message, extensions: { code, ...extensions } }] };
}

/**
 * Stubs global fetch with handlers per operation name (or `/auth/...` path). A handler returns a Response, or a
 * body to send as JSON (`{data}` or `{errors}`), or throws (a network failure).
 */
export function mockGraphQL(handlers: Record<string, Handler>) {
  const requests: SentRequest[] = [];
  const fetchMock = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body ?? '{}')) as { operationName?: string; variables?: Record<string, unknown> };
    // The session endpoints (POST /auth/refresh, /auth/logout) are keyed by their path.
    const path = String(url);
    const request: SentRequest = {
      operationName: path.startsWith('/auth/') ? path : (body.operationName ?? ''),
      variables: body.variables ?? {},
      headers: (init?.headers ?? {}) as Record<string, string>,
      credentials: init?.credentials,
    };
    requests.push(request);
    const handler = handlers[request.operationName];
    if (!handler) throw new Error(`no mock for operation ${request.operationName}`);
    const result = await handler(request.variables, request);
    return result instanceof Response ? result : json(result);
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    fetchMock,
    requests,
    sent: (operationName: string) => requests.filter((r) => r.operationName === operationName),
  };
}

export const signedOutAuth: AuthState = { accessToken: null, user: null, restoring: false };

export function user(role: User['role'] = 'CUSTOMER'): User {
  return { id: 'u-1', email: 'ada@example.com', name: 'Ada', role };
}

export function signedInAuth(role: User['role'] = 'CUSTOMER'): AuthState {
  return { accessToken: 'access-1', user: user(role), restoring: false };
}

export function eur(amountMinor: number): Money {
  return { amountMinor, currency: 'EUR', formatted: `${(amountMinor / 100).toFixed(2)} EUR` };
}

export function product(n: number, available = 10, overrides: Partial<Product> = {}): Product {
  return {
    id: `p-${n}`,
    sku: `KIT-${String(n).padStart(3, '0')}`,
    name: `Product ${n}`,
    description: 'A fine thing.',
    category: 'kitchen',
    imageUrl: '',
    archived: false,
    version: 1,
    price: eur(1000 + n),
    stock: { sku: `KIT-${String(n).padStart(3, '0')}`, onHand: available, reserved: 0, available },
    ...overrides,
  };
}

export function connection<T>(nodes: T[], endCursor: string | null, hasNextPage: boolean) {
  return {
    edges: nodes.map((node, i) => ({ cursor: `c-${i}`, node })),
    pageInfo: { hasNextPage, endCursor },
  };
}

export function cart(items: { sku: string; quantity: number; unitMinor: number; available?: number }[]): Cart {
  const lines = items.map((i) => ({
    sku: i.sku,
    quantity: i.quantity,
    productName: `Name of ${i.sku}`,
    productArchived: false,
    unitPrice: eur(i.unitMinor),
    lineTotal: eur(i.unitMinor * i.quantity),
    product: { id: `id-${i.sku}`, sku: i.sku, name: `Name of ${i.sku}`, imageUrl: '', category: 'kitchen', stock: { sku: i.sku, available: i.available ?? 50 } },
  }));
  return {
    id: 'cart-1',
    items: lines,
    itemCount: items.reduce((n, i) => n + i.quantity, 0),
    subtotal: eur(items.reduce((n, i) => n + i.unitMinor * i.quantity, 0)),
  };
}

export function order(overrides: Partial<Order> = {}): Order {
  return {
    id: '0190b3c4-aaaa-bbbb-cccc-1234abcd5678',
    status: 'PENDING',
    cancelReason: null,
    cancelNote: null,
    paymentMethod: 'pm_card_visa',
    paymentClientSecret: null,
    paymentActionUrl: null,
    createdAt: '2025-01-02T10:00:00Z',
    updatedAt: '2025-01-02T10:00:00Z',
    version: 1,
    total: eur(2500),
    lines: [{ sku: 'KIT-001', productName: 'Mug', quantity: 2, unitPrice: eur(1250), lineTotal: eur(2500) }],
    shippingAddress: { name: 'Ada', line1: 'Main St 1', line2: null, city: 'Berlin', postalCode: '10115', country: 'DE' },
    ...overrides,
  };
}

function Where() {
  const location = useLocation();
  return <p data-testid="location">{location.pathname}</p>;
}

export function renderApp(
  ui: ReactElement,
  {
    route = '/',
    path = '/',
    auth = signedOutAuth,
    extra,
  }: { route?: string | { pathname: string; search?: string; state?: unknown }; path?: string; auth?: AuthState; extra?: ReactElement } = {},
) {
  const store = makeStore(auth);
  const utils = render(
    <Provider store={store}>
      <MemoryRouter initialEntries={[route]}>
        <Routes>
          <Route path={path} element={ui} />
          {extra}
          <Route path="*" element={<Where />} />
        </Routes>
      </MemoryRouter>
    </Provider>,
  );
  return { store, ...utils };
}
