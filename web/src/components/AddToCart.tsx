// "Add to cart" for one SKU. It knows the stock (`available`) and what the cart already
// holds, so it never asks for more than exists: the refusal is said where the shopper
// clicked, without a round trip. One message at a time (confirmation or problem), in a
// live region. The button is never `disabled` while it has focus (that would drop keyboard
// focus to the page): it is aria-disabled and ignores presses while busy or sold out.
import { useEffect, useRef, useState } from 'react';
import { useAddToCartMutation, useCartQuery } from '../api/api';
import { errorMessage } from '../api/errors';
import type { StockLevel } from '../api/models';
import { addRefusal, quantityInCart } from '../lib/cartStock';

type Message = { kind: 'added' | 'refused'; text: string } | null;

/** How long "Added to cart" stays. */
export const ADDED_MS = 2500;

export function AddToCart({
  sku,
  name,
  stock,
  quantity = 1,
  compact = false,
}: {
  sku: string;
  name: string;
  stock: Pick<StockLevel, 'available'> | null | undefined;
  quantity?: number;
  compact?: boolean;
}) {
  const [addToCart, { isLoading }] = useAddToCartMutation();
  const { data: cart } = useCartQuery();
  const [message, setMessage] = useState<Message>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const soldOut = !!stock && stock.available <= 0;
  const inCart = quantityInCart(cart, sku);

  useEffect(() => () => clearTimeout(timer.current), []);

  const show = (next: Message) => {
    clearTimeout(timer.current);
    setMessage(next);
    if (next?.kind === 'added') timer.current = setTimeout(() => setMessage(null), ADDED_MS);
  };

  const onClick = async () => {
    if (isLoading || soldOut) return;
    const refusal = addRefusal(stock?.available, inCart, quantity);
    if (refusal) {
      show({ kind: 'refused', text: refusal });
      return;
    }
    show(null);
    const result = await addToCart({ sku, quantity });
    if ('error' in result) show({ kind: 'refused', text: errorMessage(result.error) });
    else show({ kind: 'added', text: quantity === 1 ? 'Added to cart' : `Added ${quantity} to cart` });
  };

  return (
    <div className={`add-to-cart${compact ? ' compact' : ''}`}>
      <button
        type="button"
        className="button primary"
        aria-disabled={soldOut || isLoading || undefined}
        onClick={() => void onClick()}
      >
        {/* In a grid of cards the product's name tells the buttons apart; it is part of the
            text (visually hidden), not an aria-label, so what is seen is what is named. */}
        {soldOut ? (
          <>
            {'Sold out'}
            {compact ? <span className="visually-hidden">{`: ${name}`}</span> : null}
          </>
        ) : isLoading ? (
          'Adding…'
        ) : (
          <>
            {'Add '}
            {compact ? <span className="visually-hidden">{name}</span> : null}
            {compact ? ' to cart' : 'to cart'}
          </>
        )}
      </button>
      <span className="add-to-cart-status" role="status" aria-live="polite">
        {message?.kind === 'added' ? message.text : ''}
      </span>
      {message?.kind === 'refused' ? (
        <span className="field-error add-to-cart-error" role="alert">
          {message.text}
        </span>
      ) : null}
    </div>
  );
}
