// The cart, guest or signed in. Quantities change through updateCartItem (0 removes the
// line); each answer is the whole cart, which replaces the cached one.
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import { useCartQuery, useUpdateCartItemMutation } from '../api/api';
import { errorMessage, fieldErrors, isApiError } from '../api/errors';
import type { CartItem } from '../api/models';
import { ErrorAlert, Loading } from '../components/Feedback';
import { Money } from '../components/Money';
import { ProductImage } from '../components/ProductImage';
import { availability, availabilityLabel } from '../lib/stock';
import { usePageTitle } from '../lib/page';

/** A server's field message as a sentence about the quantity ("must be at most 99 units
 * per line" -> "Quantity must be at most 99 units per line."). */
function quantitySentence(message: string): string {
  const text = /^[a-z]/.test(message) ? `Quantity ${message}` : message;
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function CartLine({ item }: { item: CartItem }) {
  const [update, { isLoading, error, reset }] = useUpdateCartItemMutation();
  const [draft, setDraft] = useState(String(item.quantity));
  const [local, setLocal] = useState<string | null>(null);
  useEffect(() => setDraft(String(item.quantity)), [item.quantity]);
  const name = item.product?.name ?? item.productName;
  const stock = item.product?.stock;
  const a = availability(stock);
  const short = !!stock && stock.available < item.quantity;

  const set = (quantity: number) => {
    if (isLoading) return;
    if (!Number.isInteger(quantity) || quantity < 0) {
      setDraft(String(item.quantity));
      return;
    }
    // More than exists is refused here; the service has its own per-line limit, and its
    // message is shown next to the field when it refuses.
    if (stock && quantity > item.quantity && quantity > stock.available) {
      reset();
      setLocal(stock.available <= 0 ? 'Out of stock: no more can be added.' : `Only ${stock.available} available.`);
      return;
    }
    setLocal(null);
    if (quantity !== item.quantity) void update({ sku: item.sku, quantity });
  };

  const serverField = fieldErrors(error);
  const serverQuantity = serverField.quantity ?? (isApiError(error) && error.code === 'BAD_USER_INPUT' ? Object.values(serverField)[0] : undefined);
  const quantityError = local ?? (serverQuantity ? quantitySentence(serverQuantity) : null);
  const otherError = error && !serverQuantity ? errorMessage(error) : null;

  const inputId = `qty-${item.sku}`;
  const errorId = `${inputId}-error`;
  return (
    <li className="cart-line" aria-busy={isLoading || undefined}>
      <ProductImage src={item.product?.imageUrl ?? ''} name={name} category={item.product?.category ?? ''} size="thumb" />
      <div className="cart-line-main">
        <h2 className="cart-line-title">
          <Link to={`/products/${encodeURIComponent(item.sku)}`}>{name}</Link>
        </h2>
        <p className="muted small">
          <Money value={item.unitPrice} /> each · SKU {item.sku}
        </p>
        {item.productArchived ? (
          <p className="field-error">This product is no longer sold. Remove it before checking out.</p>
        ) : short ? (
          <p className="field-error">{a.kind === 'out' ? 'Out of stock' : `Only ${stock?.available} left`}: lower the quantity before checking out.</p>
        ) : a.kind === 'low' ? (
          <p className="muted small">{availabilityLabel(a)}</p>
        ) : null}
        {otherError ? (
          <p className="field-error" role="alert">
            {otherError}
          </p>
        ) : null}
      </div>
      <div className={`cart-line-qty${quantityError ? ' has-error' : ''}`}>
        <div className="qty-controls">
          <button type="button" className="button icon" aria-label={`Decrease quantity of ${name}`} aria-disabled={isLoading || undefined} onClick={() => set(item.quantity - 1)}>
            −
          </button>
          <label htmlFor={inputId} className="visually-hidden">
            Quantity of {name}
          </label>
          <input
            id={inputId}
            type="number"
            min={0}
            max={stock ? Math.max(stock.available, item.quantity) : undefined}
            inputMode="numeric"
            value={draft}
            readOnly={isLoading}
            aria-invalid={quantityError ? true : undefined}
            aria-describedby={quantityError ? errorId : undefined}
            onChange={(e) => setDraft(e.target.value)}
            onBlur={() => set(Number(draft))}
            onKeyDown={(e) => {
              if (e.key === 'Enter') set(Number(draft));
            }}
          />
          <button type="button" className="button icon" aria-label={`Increase quantity of ${name}`} aria-disabled={isLoading || undefined} onClick={() => set(item.quantity + 1)}>
            +
          </button>
        </div>
        {quantityError ? (
          <p className="field-error" id={errorId} role="alert">
            {quantityError}
          </p>
        ) : null}
      </div>
      <div className="cart-line-total">
        <Money value={item.lineTotal} />
        <button type="button" className="button link danger" aria-label={`Remove ${name}`} aria-disabled={isLoading || undefined} onClick={() => set(0)}>
          Remove
        </button>
      </div>
    </li>
  );
}

export function CartPage() {
  usePageTitle('Cart');
  const { data: cart, error, isLoading } = useCartQuery();
  if (isLoading) return <Loading label="Loading your cart…" />;
  if (error || !cart) return <ErrorAlert error={error} title="Could not load your cart." />;

  if (cart.items.length === 0) {
    return (
      <section className="panel narrow">
        <h1>Your cart</h1>
        <p className="empty">Your cart is empty.</p>
        <Link to="/" className="button primary">
          Continue shopping
        </Link>
      </section>
    );
  }
  const blocked = cart.items.some((i) => i.productArchived || (i.product?.stock && i.product.stock.available < i.quantity));
  return (
    <section>
      <h1>Your cart</h1>
      <ul className="cart-lines" aria-label="Cart items">
        {cart.items.map((item) => (
          <CartLine key={item.sku} item={item} />
        ))}
      </ul>
      <div className="cart-summary panel">
        <p className="summary-row">
          <span>
            Subtotal ({cart.itemCount} {cart.itemCount === 1 ? 'item' : 'items'})
          </span>
          <strong data-testid="cart-subtotal">
            <Money value={cart.subtotal} />
          </strong>
        </p>
        <Link to="/checkout" className={`button primary block${blocked ? ' disabled' : ''}`} aria-disabled={blocked || undefined} onClick={(e) => blocked && e.preventDefault()}>
          Check out
        </Link>
        <Link to="/" className="button block">
          Continue shopping
        </Link>
      </div>
    </section>
  );
}
