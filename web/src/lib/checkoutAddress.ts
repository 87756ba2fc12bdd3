// The shipping address last submitted at checkout, kept for this tab (sessionStorage): a
// retry after a declined card, or a second order, starts from it instead of an empty form
// with the country back at its default. Cleared when the user signs out.
import type { Address } from '../api/models';

export const CHECKOUT_ADDRESS_KEY = 'shopmesh.checkout.address';

export type AddressForm = { [K in keyof Address]-?: string };

function storage(): Storage | undefined {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined; // storage disabled
  }
}

export function saveCheckoutAddress(address: AddressForm): void {
  try {
    storage()?.setItem(CHECKOUT_ADDRESS_KEY, JSON.stringify(address));
  } catch {
    // Full or disabled: the form simply starts empty next time.
  }
}

/** The saved address, or null when there is none or it is not one. */
export function loadCheckoutAddress(): AddressForm | null {
  try {
    const raw = storage()?.getItem(CHECKOUT_ADDRESS_KEY);
    if (!raw) return null;
    const value: unknown = JSON.parse(raw);
    if (!value || typeof value !== 'object') return null;
    const record = value as Record<string, unknown>;
    const keys = ['name', 'line1', 'line2', 'city', 'postalCode', 'country'] as const;
    if (!keys.every((k) => typeof record[k] === 'string')) return null;
    const text = (k: (typeof keys)[number]) => String(record[k]);
    return { name: text('name'), line1: text('line1'), line2: text('line2'), city: text('city'), postalCode: text('postalCode'), country: text('country') };
  } catch {
    return null;
  }
}

export function forgetCheckoutAddress(): void {
  try {
    storage()?.removeItem(CHECKOUT_ADDRESS_KEY);
  } catch {
    // Nothing stored then.
  }
}
