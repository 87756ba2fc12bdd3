// "Add to cart" for one SKU: disabled when nothing is available, confirms in a live region,
// and explains a refusal (OUT_OF_STOCK and friends) where the shopper clicked.
import { useEffect, useState } from 'react';
import { useAddToCartMutation } from '../api/api';
import { errorMessage } from '../api/errors';
import type { StockLevel } from '../api/models';

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
  const [addToCart, { isLoading, isSuccess, error, reset }] = useAddToCartMutation();
  const [flash, setFlash] = useState(false);
  const soldOut = !!stock && stock.available <= 0;

  useEffect(() => {
    if (!isSuccess) return;
    setFlash(true);
    const timer = setTimeout(() => setFlash(false), 2500);
    return () => clearTimeout(timer);
  }, [isSuccess]);

  return (
    <div className={`add-to-cart${compact ? ' compact' : ''}`}>
      <button
        type="button"
        className="button primary"
        disabled={soldOut || isLoading}
        aria-label={compact ? `Add ${name} to cart` : undefined}
        onClick={() => {
          reset();
          void addToCart({ sku, quantity });
        }}
      >
        {soldOut ? 'Sold out' : isLoading ? 'Adding…' : 'Add to cart'}
      </button>
      <span className="add-to-cart-status" role="status" aria-live="polite">
        {flash ? 'Added to cart' : ''}
      </span>
      {error ? (
        <span className="field-error" role="alert">
          {errorMessage(error)}
        </span>
      ) : null}
    </div>
  );
}
