import { describe, expect, it } from 'vitest';
import { availability, availabilityLabel } from './stock';
import { cancelReasonText, isCancellable, isFinal } from './orders';
import { safeNext } from './nav';
import { defaultCountry } from './countries';

describe('stock availability', () => {
  it('says what a shopper needs to know', () => {
    expect(availabilityLabel(availability({ available: 0 }))).toBe('Out of stock');
    expect(availabilityLabel(availability({ available: -2 }))).toBe('Out of stock');
    expect(availabilityLabel(availability({ available: 1 }))).toBe('Only 1 left');
    expect(availabilityLabel(availability({ available: 5 }))).toBe('Only 5 left');
    expect(availabilityLabel(availability({ available: 6 }))).toBe('In stock');
    expect(availability(null).kind).toBe('unknown');
  });
});

describe('orders', () => {
  it('explains every cancel reason in words', () => {
    expect(cancelReasonText('PAYMENT_DECLINED')).toMatch(/payment was declined/);
    expect(cancelReasonText('OUT_OF_STOCK')).toMatch(/sold out/);
    expect(cancelReasonText('RESERVATION_EXPIRED')).toMatch(/not completed in time/);
    expect(cancelReasonText('CANCELLED_BY_CUSTOMER')).toBe('You cancelled this order.');
    expect(cancelReasonText('SOMETHING_NEW')).toBe('Cancelled (something new).');
    expect(cancelReasonText(null)).toBeNull();
  });

  it('knows which states are final and cancellable', () => {
    expect(isFinal('CONFIRMED')).toBe(true);
    expect(isFinal('AWAITING_PAYMENT')).toBe(false);
    expect(isCancellable('PENDING')).toBe(true);
    expect(isCancellable('CONFIRMED')).toBe(false);
  });
});

describe('helpers', () => {
  it('only redirects inside the app after sign-in', () => {
    expect(safeNext('/checkout')).toBe('/checkout');
    expect(safeNext('//evil.example')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });

  it('picks a shipping country from the browser language', () => {
    expect(defaultCountry('en-GB')).toBe('GB');
    expect(defaultCountry('fr')).toBe('DE');
    expect(defaultCountry('pt-BR')).toBe('DE');
  });
});
