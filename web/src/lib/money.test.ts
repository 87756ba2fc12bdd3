import { describe, expect, it } from 'vitest';
import { formatMoney, minorDigits, parseMajorAmount, toMajorText } from './money';

describe('formatMoney', () => {
  it('formats minor units with the currency and locale', () => {
    expect(formatMoney({ amountMinor: 1250, currency: 'EUR' }, 'en-US')).toBe('€12.50');
    expect(formatMoney({ amountMinor: 1250, currency: 'EUR' }, 'de-DE')).toBe('12,50\u00a0€');
    expect(formatMoney({ amountMinor: 199999, currency: 'USD' }, 'en-US')).toBe('$1,999.99');
  });

  it('takes the fraction digits from the currency', () => {
    expect(minorDigits('EUR')).toBe(2);
    expect(minorDigits('JPY')).toBe(0);
    expect(formatMoney({ amountMinor: 1500, currency: 'JPY' }, 'en-US')).toBe('¥1,500');
    expect(formatMoney({ amountMinor: 0, currency: 'GBP' }, 'en-GB')).toBe('£0.00');
  });

  it('still shows an amount for a currency code Intl rejects', () => {
    expect(formatMoney({ amountMinor: 1250, currency: 'not-a-code' }, 'en-US')).toBe('12.50 not-a-code');
  });
});

describe('price fields', () => {
  it('parses what an admin types into minor units', () => {
    expect(parseMajorAmount('12.5', 'EUR')).toBe(1250);
    expect(parseMajorAmount('12,05', 'EUR')).toBe(1205);
    expect(parseMajorAmount(' 7 ', 'EUR')).toBe(700);
    expect(parseMajorAmount('1500', 'JPY')).toBe(1500);
    expect(parseMajorAmount('15.5', 'JPY')).toBeNull();
    expect(parseMajorAmount('1.234', 'EUR')).toBeNull();
    expect(parseMajorAmount('-3', 'EUR')).toBeNull();
    expect(parseMajorAmount('abc', 'EUR')).toBeNull();
  });

  it('round-trips minor units through the text form', () => {
    expect(toMajorText({ amountMinor: 1205, currency: 'EUR' })).toBe('12.05');
    expect(toMajorText({ amountMinor: 99, currency: 'EUR' })).toBe('0.99');
    expect(toMajorText({ amountMinor: 1500, currency: 'JPY' })).toBe('1500');
    expect(parseMajorAmount(toMajorText({ amountMinor: 4999, currency: 'USD' }), 'USD')).toBe(4999);
  });
});
