// What the cart may still take of a SKU, from what the BFF already says: the product's
// `stock.available` (on hand minus reserved by checkouts in flight) and the cart's lines.
// The Cart service does not check stock when a line grows, so without this a shopper could
// fill a cart with more than exists and only learn at checkout (a cancelled order).
import type { Cart, CartItem } from '../api/models';

/** Units of `sku` already in the cart. */
export function quantityInCart(cart: Pick<Cart, 'items'> | null | undefined, sku: string): number {
  return cart?.items.find((item) => item.sku === sku)?.quantity ?? 0;
}

/** How many more units may be added; null when the stock is unknown (the server decides). */
export function roomFor(available: number | null | undefined, inCart: number): number | null {
  if (available === null || available === undefined) return null;
  return Math.max(0, available - inCart);
}

/** Why adding `quantity` more is refused, or null when it fits. */
export function addRefusal(available: number | null | undefined, inCart: number, quantity: number): string | null {
  const room = roomFor(available, inCart);
  if (room === null || quantity <= room) return null;
  if (room === 0) {
    return inCart > 0
      ? `You already have all ${inCart} available in your cart.`
      : 'Sorry, this is out of stock.';
  }
  const more = `Only ${room} more ${room === 1 ? 'is' : 'are'} available`;
  return inCart > 0 ? `${more} (you have ${inCart} in your cart).` : `${more}.`;
}

/** A cart line that cannot be ordered as it is: archived, or more than is available. */
export function lineProblem(item: Pick<CartItem, 'quantity' | 'productArchived' | 'product'>): string | null {
  if (item.productArchived) return 'No longer sold: remove it from your cart.';
  const available = item.product?.stock?.available;
  if (available === undefined || available === null || item.quantity <= available) return null;
  if (available <= 0) return 'Out of stock: remove it from your cart.';
  return `Only ${available} left: lower the quantity in your cart.`;
}
