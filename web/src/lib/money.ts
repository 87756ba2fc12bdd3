// Prices arrive as integer minor units plus an ISO 4217 code; the BFF's `formatted` is
// locale-free on purpose, so the app localises here. The fraction digits come from the
// currency itself (JPY has none, BHD three), never from a hard-coded 100.
import type { Money } from '../api/models';

const formatters = new Map<string, Intl.NumberFormat>();

function formatter(currency: string, locale: string | undefined): Intl.NumberFormat {
  const key = `${locale ?? ''}|${currency}`;
  let cached = formatters.get(key);
  if (!cached) {
    cached = new Intl.NumberFormat(locale, { style: 'currency', currency });
    formatters.set(key, cached);
  }
  return cached;
}

/** Digits after the decimal point of `currency` (2 for EUR, 0 for JPY, 3 for KWD). */
export function minorDigits(currency: string): number {
  try {
    return formatter(currency, 'en').resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** `{amountMinor: 1250, currency: 'EUR'}` → "€12.50" (in the user's locale). */
export function formatMoney(
  money: Pick<Money, 'amountMinor' | 'currency'>,
  locale: string | undefined = undefined,
): string {
  const { amountMinor, currency } = money;
  try {
    const digits = minorDigits(currency);
    return formatter(currency, locale).format(amountMinor / 10 ** digits);
  } catch {
    // An unknown currency code: still show the amount rather than nothing.
    return `${(amountMinor / 100).toFixed(2)} ${currency}`;
  }
}

/** "12.50" typed into a price field → 1250 minor units; null when it is not an amount. */
export function parseMajorAmount(text: string, currency: string): number | null {
  const digits = minorDigits(currency);
  const trimmed = text.trim().replace(',', '.');
  const pattern = digits === 0 ? /^\d+$/ : new RegExp(`^\\d+(\\.\\d{1,${digits}})?$`);
  if (!pattern.test(trimmed)) return null;
  const [whole = '0', fraction = ''] = trimmed.split('.');
  return Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, '0') || '0');
}

/** 1250 minor units of EUR → "12.50", for an editable price field. */
export function toMajorText(money: Pick<Money, 'amountMinor' | 'currency'>): string {
  const digits = minorDigits(money.currency);
  if (digits === 0) return String(money.amountMinor);
  const whole = Math.trunc(money.amountMinor / 10 ** digits);
  const fraction = String(Math.abs(money.amountMinor) % 10 ** digits).padStart(digits, '0');
  return `${whole}.${fraction}`;
}
