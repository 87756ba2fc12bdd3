import { beforeEach, describe, expect, it, vi } from 'vitest';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { OrderPage, OrdersPage } from './OrderPages';
import type { OrderFeedHandlers } from '../api/orderFeed';
import { connection, mockGraphQL, order, renderApp, signedInAuth } from '../test/utils';

const feeds: { orderId: string; token: string | null; handlers: OrderFeedHandlers; closed: boolean }[] = [];

vi.mock('../api/orderFeed', () => ({
  openOrderFeed: (orderId: string, token: () => string | null, handlers: OrderFeedHandlers) => {
    const feed = { orderId, token: token(), handlers, closed: false };
    feeds.push(feed);
    return () => {
      feed.closed = true;
    };
  },
}));

const left: string[] = [];
vi.mock('../lib/browser', () => ({
  isWebUrl: (url: string) => /^https?:\/\//.test(url),
  leaveTo: (url: string) => left.push(url),
}));

beforeEach(() => {
  feeds.length = 0;
  left.length = 0;
});

const ACTION_URL = 'http://127.0.0.1:12111/_fake/3ds/pi_123';

const ID = order().id;

function renderOrder() {
  return renderApp(<OrderPage />, { route: `/orders/${ID}`, path: '/orders/:id', auth: signedInAuth() });
}

describe('OrderPage', () => {
  it('follows the order live until it is confirmed', async () => {
    const fake = mockGraphQL({
      Order: () => ({ data: { order: order() } }),
      Cart: () => ({ data: { cart: { id: 'c', items: [], itemCount: 0, subtotal: { amountMinor: 0, currency: 'EUR', formatted: '' } } } }),
      Orders: () => ({ data: { orders: connection([], null, false) } }),
    });
    renderOrder();
    const status = await screen.findByTestId('order-status');
    expect(within(status).getByText('Processing')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Cancel order' })).toBeInTheDocument();
    await waitFor(() => expect(feeds).toHaveLength(1));
    expect(feeds[0]).toMatchObject({ orderId: ID, token: 'access-1' });

    act(() => feeds[0]!.handlers.next(order({ status: 'CONFIRMED', version: 3 })));
    expect(await within(status).findByText('Confirmed')).toBeInTheDocument();
    expect(screen.getByText(/Your order is confirmed/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Cancel order' })).not.toBeInTheDocument();
    // A stale message never rolls the order back.
    act(() => feeds[0]!.handlers.next(order({ status: 'PENDING', version: 2 })));
    expect(within(status).getByText('Confirmed')).toBeInTheDocument();
    expect(fake.sent('Order')).toHaveLength(1);
  });

  it('explains a declined payment in words', async () => {
    mockGraphQL({
      Order: () => ({ data: { order: order() } }),
      Cart: () => ({ data: { cart: { id: 'c', items: [], itemCount: 0, subtotal: { amountMinor: 0, currency: 'EUR', formatted: '' } } } }),
      Orders: () => ({ data: { orders: connection([], null, false) } }),
    });
    renderOrder();
    await waitFor(() => expect(feeds).toHaveLength(1));
    act(() => feeds[0]!.handlers.next(order({ status: 'CANCELLED', cancelReason: 'PAYMENT_DECLINED', version: 4 })));
    expect(await screen.findByTestId('cancel-reason')).toHaveTextContent('Your payment was declined by the card issuer.');
    expect(screen.getByRole('link', { name: 'Try another payment method' })).toHaveAttribute('href', '/checkout');
  });

  it('does not subscribe to an order that is already final', async () => {
    mockGraphQL({ Order: () => ({ data: { order: order({ status: 'CANCELLED', cancelReason: 'OUT_OF_STOCK' }) } }) });
    renderOrder();
    expect(await screen.findByTestId('cancel-reason')).toHaveTextContent('sold out');
    expect(feeds).toHaveLength(0);
  });

  it('cancels while the order is still cancellable', async () => {
    const fake = mockGraphQL({
      Order: () => ({ data: { order: order() } }),
      CancelOrder: () => ({ data: { cancelOrder: order({ status: 'CANCELLED', cancelReason: 'CANCELLED_BY_CUSTOMER', version: 2 }) } }),
      Orders: () => ({ data: { orders: connection([], null, false) } }),
    });
    renderOrder();
    await userEvent.click(await screen.findByRole('button', { name: 'Cancel order' }));
    await userEvent.click(screen.getByRole('button', { name: 'Yes, cancel order' }));
    expect(await screen.findByTestId('cancel-reason')).toHaveTextContent('You cancelled this order.');
    expect(fake.sent('CancelOrder')[0]?.variables).toEqual({ id: ID });
  });

  it('says so when the order is not the viewer’s', async () => {
    mockGraphQL({ Order: () => ({ data: { order: null } }) });
    renderOrder();
    expect(await screen.findByRole('heading', { name: 'Order not found' })).toBeInTheDocument();
  });
});

describe('OrderPage and 3-D Secure', () => {
  const backend = () =>
    mockGraphQL({
      Order: () => ({ data: { order: order() } }),
      Cart: () => ({ data: { cart: { id: 'c', items: [], itemCount: 0, subtotal: { amountMinor: 0, currency: 'EUR', formatted: '' } } } }),
      Orders: () => ({ data: { orders: connection([], null, false) } }),
    });

  it('sends the shopper to the bank as soon as the order just placed asks for it', async () => {
    backend();
    renderApp(<OrderPage />, { route: { pathname: `/orders/${ID}`, state: { justPlaced: true } }, path: '/orders/:id', auth: signedInAuth() });
    await waitFor(() => expect(feeds).toHaveLength(1));
    expect(left).toEqual([]);
    act(() => feeds[0]!.handlers.next(order({ status: 'AWAITING_PAYMENT', paymentActionUrl: ACTION_URL, version: 2 })));
    await waitFor(() => expect(left).toEqual([ACTION_URL]));
    expect(screen.getByRole('link', { name: 'Complete payment' })).toHaveAttribute('href', ACTION_URL);
  });

  it('offers "Complete payment" on an order viewed later, without leaving by itself', async () => {
    mockGraphQL({ Order: () => ({ data: { order: order({ status: 'AWAITING_PAYMENT', paymentActionUrl: ACTION_URL }) } }) });
    renderOrder();
    const link = await screen.findByRole('link', { name: 'Complete payment' });
    expect(link).toHaveAttribute('href', ACTION_URL);
    expect(screen.getByText(/Your bank needs you to confirm this payment/)).toBeInTheDocument();
    expect(left).toEqual([]);
  });

  it('back from the bank, shows the outcome and then the live status', async () => {
    mockGraphQL({
      Order: () => ({ data: { order: order({ status: 'AWAITING_PAYMENT', paymentActionUrl: ACTION_URL, version: 2 }) } }),
      Cart: () => ({ data: { cart: { id: 'c', items: [], itemCount: 0, subtotal: { amountMinor: 0, currency: 'EUR', formatted: '' } } } }),
      Orders: () => ({ data: { orders: connection([], null, false) } }),
    });
    renderApp(<OrderPage />, {
      route: { pathname: `/orders/${ID}`, search: '?payment_intent=pi_123&redirect_status=failed' },
      path: '/orders/:id',
      auth: signedInAuth(),
    });
    expect(await screen.findByTestId('payment-return')).toHaveTextContent('did not succeed');
    await waitFor(() => expect(feeds).toHaveLength(1));
    act(() => feeds[0]!.handlers.next(order({ status: 'CANCELLED', cancelReason: 'PAYMENT_FAILED', version: 3 })));
    expect(await screen.findByTestId('cancel-reason')).toHaveTextContent('The payment could not be processed.');
    expect(screen.queryByTestId('payment-return')).not.toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Complete payment' })).not.toBeInTheDocument();
    expect(left).toEqual([]);
    expect(document.title).toBe('Order ABCD5678 (Cancelled) · shopmesh');
  });
});

describe('OrdersPage', () => {
  it('lists orders and pages with the end cursor', async () => {
    const first = [order({ id: 'o-1' }), order({ id: 'o-2', status: 'CANCELLED', cancelReason: 'PAYMENT_DECLINED' })];
    const fake = mockGraphQL({
      Orders: (vars) =>
        vars.after === 'end-1'
          ? { data: { orders: connection([order({ id: 'o-3', status: 'CONFIRMED' })], null, false) } }
          : { data: { orders: connection(first, 'end-1', true) } },
    });
    renderApp(<OrdersPage />, { route: '/orders', path: '/orders', auth: signedInAuth() });
    const list = await screen.findByRole('list', { name: 'Orders' });
    expect(within(list).getAllByRole('listitem')).toHaveLength(2);
    expect(within(list).getByText(/payment was declined/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Load more orders' }));
    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(3));
    expect(fake.sent('Orders').at(-1)?.variables).toEqual({ first: 10, after: 'end-1' });
  });
});
