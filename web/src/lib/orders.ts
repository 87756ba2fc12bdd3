// Order states and cancellation reasons in the words a shopper understands.
import type { CancelReason, OrderStatus } from '../api/models';

export const STATUS_LABELS: Record<OrderStatus, string> = {
  PENDING: 'Processing',
  AWAITING_PAYMENT: 'Awaiting payment',
  CONFIRMED: 'Confirmed',
  CANCELLED: 'Cancelled',
};

export const STATUS_DETAILS: Record<OrderStatus, string> = {
  PENDING: 'We are reserving your items and taking payment.',
  AWAITING_PAYMENT: 'Your items are reserved. We are waiting for the payment to go through.',
  CONFIRMED: 'Thank you! Your order is confirmed and will be shipped soon.',
  CANCELLED: 'This order was cancelled.',
};

const REASONS: Record<CancelReason, string> = {
  OUT_OF_STOCK: 'Some items sold out before we could reserve them. You have not been charged.',
  PAYMENT_DECLINED: 'Your payment was declined by the card issuer. You have not been charged.',
  PAYMENT_FAILED: 'The payment could not be processed. You have not been charged.',
  RESERVATION_EXPIRED: 'The payment was not completed in time, so the reserved items were released.',
  CANCELLED_BY_CUSTOMER: 'You cancelled this order.',
  CANCELLED_BY_ADMIN: 'The shop cancelled this order.',
};

export function cancelReasonText(reason: string | null | undefined): string | null {
  if (!reason) return null;
  return REASONS[reason as CancelReason] ?? `Cancelled (${reason.toLowerCase().replace(/_/g, ' ')}).`;
}

/** The order has reached a state it will not leave. */
export function isFinal(status: OrderStatus): boolean {
  return status === 'CONFIRMED' || status === 'CANCELLED';
}

/** The customer may still cancel (the Order service refuses once it is confirmed). */
export function isCancellable(status: OrderStatus): boolean {
  return status === 'PENDING' || status === 'AWAITING_PAYMENT';
}

/** Stripe test payment methods the checkout offers (the fake and Stripe test mode agree). */
export const TEST_PAYMENT_METHODS = [
  { id: 'pm_card_visa', label: 'Visa ending 4242 (test card: succeeds)' },
  { id: 'pm_card_chargeDeclined', label: 'Visa ending 0002 (test card: declined)' },
  {
    id: 'pm_card_threeDSecure2Required',
    label: 'Visa ending 3220 (test card: requires 3-D Secure)',
  },
] as const;

export function paymentMethodLabel(id: string): string {
  return TEST_PAYMENT_METHODS.find((m) => m.id === id)?.label ?? id;
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}
