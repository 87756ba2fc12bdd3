// An order, live (the `order` query follows `orderUpdated`, see api.ts), and the order
// history with cursor paging.
import { useEffect, useState } from 'react';
import { Link, useLocation, useNavigate, useParams, useSearchParams } from 'react-router';
import { useCancelOrderMutation, useOrderQuery, useOrdersInfiniteQuery } from '../api/api';
import type { OrderStatus } from '../api/models';
import { ErrorAlert, LoadMore, Loading, NotFound, Notice, Unavailable } from '../components/Feedback';
import { Money } from '../components/Money';
import { RequireSignIn } from '../components/RequireSignIn';
import { countryName } from '../lib/countries';
import { usePageTitle } from '../lib/page';
import { isWebUrl, leaveTo } from '../lib/browser';
import type { PlacedOrderState } from './CheckoutPage';
import { STATUS_DETAILS, STATUS_LABELS, cancelReasonText, formatDate, isCancellable, isFinal, paymentMethodLabel } from '../lib/orders';

export function StatusBadge({ status }: { status: OrderStatus }) {
  return <span className={`badge badge-status-${status.toLowerCase()}`}>{STATUS_LABELS[status]}</span>;
}

function shortId(id: string): string {
  return id.replace(/-/g, '').slice(-8).toUpperCase();
}

function justPlaced(state: unknown): boolean {
  return !!state && typeof state === 'object' && (state as Partial<PlacedOrderState>).justPlaced === true;
}

/** The card issuer's outcome when 3-D Secure sends the shopper back (Stripe's
 * `redirect_status`), while the order itself has not caught up yet. */
const RETURN_NOTES: Record<string, string> = {
  succeeded: 'You completed the payment check with your bank. We are confirming the payment now…',
  failed: 'The payment check with your bank did not succeed. We are updating your order…',
};

function OrderView({ id }: { id: string }) {
  // Always read again on opening: after 3-D Secure the shopper comes back to a new state.
  const { data: order, error, isLoading } = useOrderQuery(id, { refetchOnMountOrArgChange: true });
  const [cancel, { isLoading: cancelling, error: cancelError }] = useCancelOrderMutation();
  const [confirming, setConfirming] = useState(false);
  const location = useLocation();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const returned = params.get('redirect_status');
  const actionUrl = order?.status === 'AWAITING_PAYMENT' && order.paymentActionUrl && isWebUrl(order.paymentActionUrl) ? order.paymentActionUrl : null;
  const placedHere = justPlaced(location.state);

  // Right after "Place order": when the payment needs the shopper (3-D Secure), go there
  // at once. The history entry forgets that it was just placed first, so coming back to
  // it (back button) shows the order instead of bouncing to the bank again.
  useEffect(() => {
    if (!actionUrl || !placedHere) return;
    navigate({ pathname: location.pathname, search: location.search }, { replace: true, state: null });
    leaveTo(actionUrl);
  }, [actionUrl, placedHere, navigate, location.pathname, location.search]);
  usePageTitle(order ? `Order ${shortId(order.id)} (${STATUS_LABELS[order.status]})` : isLoading ? 'Loading order' : 'Order not found');

  if (isLoading) return <Loading label="Loading order…" />;
  if (error) return <Unavailable title="Order unavailable" error={error} what="this order" />;
  if (!order) {
    return (
      <NotFound title="Order not found">
        We could not find this order in your account. <Link to="/orders">Your orders</Link>
      </NotFound>
    );
  }

  const reason = order.status === 'CANCELLED' ? cancelReasonText(order.cancelReason) : null;
  const address = order.shippingAddress;
  return (
    <article className="order">
      <p className="breadcrumbs">
        <Link to="/orders">Your orders</Link> › Order {shortId(order.id)}
      </p>
      <h1>Order {shortId(order.id)}</h1>
      <div className={`order-status panel status-${order.status.toLowerCase()}`} aria-live="polite" data-testid="order-status">
        <p className="order-status-line">
          Status: <StatusBadge status={order.status} />
          {!isFinal(order.status) ? <span className="live-dot" role="img" aria-label="updating live" /> : null}
        </p>
        <p>{STATUS_DETAILS[order.status]}</p>
        {reason ? (
          <p className="cancel-reason" data-testid="cancel-reason">
            {reason}
          </p>
        ) : null}
        {order.status === 'CANCELLED' && order.cancelNote ? <p className="muted small">Note: {order.cancelNote}</p> : null}
        {order.status === 'CANCELLED' && (order.cancelReason === 'PAYMENT_DECLINED' || order.cancelReason === 'PAYMENT_FAILED') ? (
          <p>
            Your items are still in your cart. <Link to="/checkout">Try another payment method</Link>.
          </p>
        ) : null}
        {order.status === 'AWAITING_PAYMENT' && returned && RETURN_NOTES[returned] ? (
          <p data-testid="payment-return">{RETURN_NOTES[returned]}</p>
        ) : null}
        {actionUrl ? (
          <div className="payment-action">
            <p>
              <strong>Your bank needs you to confirm this payment (3-D Secure).</strong> Your items are reserved until then; if the payment is
              not completed in time, the order is cancelled and nothing is charged.
            </p>
            <a className="button primary" href={actionUrl}>
              Complete payment
            </a>
          </div>
        ) : order.status === 'AWAITING_PAYMENT' && order.paymentClientSecret ? (
          <Notice tone="warning">
            This card needs 3-D Secure confirmation. If the payment is not completed, the order is cancelled automatically and the items are
            released.
          </Notice>
        ) : null}
      </div>

      {isCancellable(order.status) ? (
        <div className="cancel-box">
          <ErrorAlert error={cancelError} title="The order was not cancelled." />
          {confirming ? (
            <p className="actions">
              <span>Cancel this order?</span>
              <button type="button" className="button danger" disabled={cancelling} onClick={() => void cancel({ id: order.id }).then(() => setConfirming(false))}>
                {cancelling ? 'Cancelling…' : 'Yes, cancel order'}
              </button>
              <button type="button" className="button" disabled={cancelling} onClick={() => setConfirming(false)}>
                Keep order
              </button>
            </p>
          ) : (
            <button type="button" className="button" onClick={() => setConfirming(true)}>
              Cancel order
            </button>
          )}
        </div>
      ) : null}

      <section className="panel">
        <h2>Items</h2>
        <div className="table-scroll" role="region" aria-label="Order items" tabIndex={0}>
        <table className="lines">
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col" className="num">
                Quantity
              </th>
              <th scope="col" className="num">
                Price
              </th>
              <th scope="col" className="num">
                Total
              </th>
            </tr>
          </thead>
          <tbody>
            {order.lines.map((line) => (
              <tr key={line.sku}>
                <td>
                  <Link to={`/products/${encodeURIComponent(line.sku)}`}>{line.productName}</Link>
                </td>
                <td className="num">{line.quantity}</td>
                <td className="num">
                  <Money value={line.unitPrice} />
                </td>
                <td className="num">
                  <Money value={line.lineTotal} />
                </td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row" colSpan={3}>
                Total
              </th>
              <td className="num">
                <strong>
                  <Money value={order.total} />
                </strong>
              </td>
            </tr>
          </tfoot>
        </table>
        </div>
      </section>

      <div className="order-facts">
        {address ? (
          <section className="panel">
            <h2>Shipping to</h2>
            <address>
              {address.name}
              <br />
              {address.line1}
              {address.line2 ? (
                <>
                  <br />
                  {address.line2}
                </>
              ) : null}
              <br />
              {address.postalCode} {address.city}
              <br />
              {countryName(address.country)}
            </address>
          </section>
        ) : null}
        <section className="panel">
          <h2>Payment</h2>
          <p>{paymentMethodLabel(order.paymentMethod)}</p>
          {order.createdAt ? <p className="muted small">Placed {formatDate(order.createdAt)}</p> : null}
        </section>
      </div>
    </article>
  );
}

export function OrderPage() {
  const { id = '' } = useParams();
  return (
    <RequireSignIn why="Sign in to see your order.">
      <OrderView id={id} />
    </RequireSignIn>
  );
}

function OrderList() {
  const { data, error, isLoading, hasNextPage, fetchNextPage, isFetchingNextPage } = useOrdersInfiniteQuery();
  const orders = data?.pages.flatMap((p) => p.edges.map((e) => e.node)) ?? [];
  usePageTitle('Your orders');
  if (isLoading) return <Loading label="Loading your orders…" />;
  return (
    <section>
      <h1>Your orders</h1>
      <ErrorAlert error={error} title="Could not load your orders." />
      {!error && orders.length === 0 ? (
        <p className="empty">
          You have not ordered anything yet. <Link to="/">Start shopping</Link>
        </p>
      ) : null}
      <ul className="order-list" aria-label="Orders">
        {orders.map((order) => {
          const units = order.lines.reduce((n, l) => n + l.quantity, 0);
          const names = order.lines.map((l) => l.productName).join(', ');
          return (
            <li key={order.id} className="order-row panel">
              <div>
                <Link to={`/orders/${encodeURIComponent(order.id)}`} className="order-link">
                  Order {shortId(order.id)}
                </Link>
                <p className="muted small">
                  {formatDate(order.createdAt)} · {units} {units === 1 ? 'item' : 'items'}: {names}
                </p>
                {order.status === 'CANCELLED' ? <p className="small">{cancelReasonText(order.cancelReason)}</p> : null}
              </div>
              <div className="order-row-side">
                <StatusBadge status={order.status} />
                <Money value={order.total} />
              </div>
            </li>
          );
        })}
      </ul>
      {hasNextPage ? <LoadMore fetching={isFetchingNextPage} onMore={() => void fetchNextPage()} label="Load more orders" /> : null}
    </section>
  );
}

export function OrdersPage() {
  return (
    <RequireSignIn why="Sign in to see your orders.">
      <OrderList />
    </RequireSignIn>
  );
}
