// Checkout: shipping address, a (test) payment method, one order. The idempotency key is
// made once per attempt and sent again on every retry of the same submit, so a double
// click, a flaky network or an impatient second press never places two orders (see
// lib/idempotency.ts). The order comes back PENDING; the order page follows it live (and
// sends the shopper to 3-D Secure when the payment asks for it). Lines the shop cannot
// deliver as they are (more than is available, archived) are shown and block the order
// before anything is sent; the address last submitted is kept for a retry.
import { useMemo, useRef, useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useCartQuery, useCheckoutMutation } from '../api/api';
import { fieldErrors, isApiError } from '../api/errors';
import type { AddressInput } from '../api/models';
import { ErrorAlert, ErrorSummary, Loading, summaryItems } from '../components/Feedback';
import { SelectField, TextField } from '../components/Field';
import { Money } from '../components/Money';
import { RequireSignIn } from '../components/RequireSignIn';
import { lineProblem } from '../lib/cartStock';
import { loadCheckoutAddress, saveCheckoutAddress, type AddressForm } from '../lib/checkoutAddress';
import { countryOptions, defaultCountry } from '../lib/countries';
import { fieldSetter, useLocalChecks } from '../lib/form';
import { createAttemptKeeper, fingerprint } from '../lib/idempotency';
import { TEST_PAYMENT_METHODS } from '../lib/orders';
import { usePageTitle } from '../lib/page';
import { useAppSelector } from '../store/hooks';
import { selectUser } from '../store/authSlice';

export function validateAddress(address: AddressForm): Partial<Record<keyof AddressForm, string>> {
  const errors: Partial<Record<keyof AddressForm, string>> = {};
  if (!address.name.trim()) errors.name = 'Please enter the recipient’s name.';
  if (!address.line1.trim()) errors.line1 = 'Please enter the street and house number.';
  if (!address.postalCode.trim()) errors.postalCode = 'Please enter the postal code.';
  if (!address.city.trim()) errors.city = 'Please enter the city.';
  if (!/^[A-Z]{2}$/.test(address.country.trim().toUpperCase())) errors.country = 'Please choose a country.';
  return errors;
}

/** The form's fields in their order on the page, as the error summary names them. */
const FIELD_LABELS: Record<string, string> = {
  name: 'Full name',
  line1: 'Address line 1',
  line2: 'Address line 2',
  postalCode: 'Postal code',
  city: 'City',
  country: 'Country',
  paymentMethod: 'Payment method',
};
const fieldId = (field: string) => `checkout-${field}`;

/** After "Place order": the order page was opened by this checkout (it may send the
 * shopper on to 3-D Secure by itself). */
export interface PlacedOrderState {
  justPlaced: true;
}

function CheckoutForm() {
  usePageTitle('Checkout');
  const user = useAppSelector(selectUser);
  const navigate = useNavigate();
  const { data: cart, isLoading: cartLoading, error: cartError } = useCartQuery();
  const [checkout, { isLoading, error, reset }] = useCheckoutMutation();
  const keeper = useRef(createAttemptKeeper()).current;
  const inFlight = useRef(false);
  const blockedRef = useRef<HTMLDivElement>(null);
  const countries = useMemo(() => countryOptions(), []);
  const [address, setAddress] = useState<AddressForm>(
    () =>
      loadCheckoutAddress() ?? {
        name: user?.name ?? '',
        line1: '',
        line2: '',
        city: '',
        postalCode: '',
        country: defaultCountry(),
      },
  );
  const [paymentMethod, setPaymentMethod] = useState<string>(TEST_PAYMENT_METHODS[0].id);
  const { local, attempt, passes } = useLocalChecks();

  if (cartLoading) return <Loading label="Loading your cart…" />;
  if (cartError || !cart) return <ErrorAlert error={cartError} title="Could not load your cart." />;
  if (cart.items.length === 0) {
    return (
      <section className="panel narrow">
        <h1>Checkout</h1>
        <p className="empty">Your cart is empty.</p>
        <Link to="/" className="button primary">
          Continue shopping
        </Link>
      </section>
    );
  }

  const problems = cart.items.flatMap((item) => {
    const problem = lineProblem(item);
    return problem ? [{ item, problem }] : [];
  });

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (inFlight.current) return; // a second click while the first is on its way
    if (problems.length > 0) {
      blockedRef.current?.focus();
      return;
    }
    if (!passes(validateAddress(address))) {
      reset(); // one message at a time: the summary, not an older server answer too
      return;
    }
    saveCheckoutAddress(address);
    const shippingAddress: AddressInput = {
      name: address.name.trim(),
      line1: address.line1.trim(),
      line2: address.line2.trim() || null,
      city: address.city.trim(),
      postalCode: address.postalCode.trim(),
      country: address.country.trim().toUpperCase(),
    };
    const idempotencyKey = keeper.keyFor(
      fingerprint({ shippingAddress, paymentMethod, cart: cart.items.map((i) => [i.sku, i.quantity]) }),
    );
    inFlight.current = true;
    try {
      const result = await checkout({ paymentMethod, idempotencyKey, shippingAddress });
      if (result.data) {
        keeper.finish();
        const state: PlacedOrderState = { justPlaced: true };
        navigate(`/orders/${encodeURIComponent(result.data.id)}`, { state });
      }
    } finally {
      inFlight.current = false;
    }
  };

  const server = { ...fieldErrors(error, 'input.'), ...fieldErrors(error, 'input.shippingAddress.') };
  const errors: Record<string, string | undefined> = { ...server, ...local };
  const summary = summaryItems(local, FIELD_LABELS, fieldId);
  const set = fieldSetter(setAddress);
  const awaitingPayment = isApiError(error) && error.code === 'ITEMS_AWAITING_PAYMENT';

  return (
    <section className="checkout">
      <h1>Checkout</h1>
      <div className="checkout-grid">
        <form onSubmit={onSubmit} noValidate aria-label="Checkout">
          {problems.length > 0 ? (
            <div ref={blockedRef} className="alert alert-warning" role="alert" tabIndex={-1} data-testid="checkout-blocked">
              <strong>Some items cannot be ordered as they are.</strong>
              <ul>
                {problems.map(({ item, problem }) => (
                  <li key={item.sku}>
                    {item.product?.name ?? item.productName}: {problem}
                  </li>
                ))}
              </ul>
              <Link to="/cart">Change your cart</Link>
            </div>
          ) : null}
          <ErrorSummary items={summary} attempt={attempt} />
          {awaitingPayment ? (
            <div className="alert alert-error" role="alert">
              <strong>Your order was not placed. </strong>
              {error.serverMessage ?? error.message} <Link to="/orders">See your orders</Link>
            </div>
          ) : (
            <ErrorAlert error={error} title="Your order was not placed." />
          )}
          <fieldset>
            <legend>Shipping address</legend>
            <TextField id={fieldId('name')} label="Full name" name="name" autoComplete="shipping name" required value={address.name} error={errors.name} onChange={set('name')} />
            <TextField id={fieldId('line1')} label="Address line 1" name="line1" autoComplete="shipping address-line1" required value={address.line1} error={errors.line1} onChange={set('line1')} />
            <TextField id={fieldId('line2')} label="Address line 2 (optional)" name="line2" autoComplete="shipping address-line2" value={address.line2} error={errors.line2} onChange={set('line2')} />
            <div className="field-row">
              <TextField id={fieldId('postalCode')} label="Postal code" name="postalCode" autoComplete="shipping postal-code" required value={address.postalCode} error={errors.postalCode} onChange={set('postalCode')} />
              <TextField id={fieldId('city')} label="City" name="city" autoComplete="shipping address-level2" required value={address.city} error={errors.city} onChange={set('city')} />
            </div>
            <SelectField id={fieldId('country')} label="Country" name="country" autoComplete="shipping country" required value={address.country} error={errors.country} onChange={set('country')}>
              {countries.map((c) => (
                <option key={c.code} value={c.code}>
                  {c.name}
                </option>
              ))}
            </SelectField>
          </fieldset>
          <fieldset>
            <legend>Payment method</legend>
            <p className="muted small">This shop runs in Stripe test mode: no real card is charged.</p>
            {TEST_PAYMENT_METHODS.map((method, index) => (
              <label key={method.id} className="radio">
                <input
                  type="radio"
                  name="paymentMethod"
                  id={index === 0 ? fieldId('paymentMethod') : undefined}
                  value={method.id}
                  checked={paymentMethod === method.id}
                  onChange={() => setPaymentMethod(method.id)}
                />
                {method.label}
              </label>
            ))}
            {errors.paymentMethod ? <p className="field-error">{errors.paymentMethod}</p> : null}
          </fieldset>
          {/* aria-disabled, not disabled: a disabled button drops keyboard focus to the page */}
          <button type="submit" className="button primary block" aria-disabled={isLoading || undefined}>
            {isLoading ? 'Placing order…' : 'Place order'}
          </button>
        </form>
        <aside className="panel order-summary" aria-label="Order summary">
          <h2>Order summary</h2>
          <ul className="summary-lines">
            {cart.items.map((item) => {
              const problem = lineProblem(item);
              return (
                <li key={item.sku} className={`summary-row${problem ? ' has-problem' : ''}`}>
                  <span>
                    {item.quantity} × {item.product?.name ?? item.productName}
                    {problem ? <span className="field-error summary-problem">{problem}</span> : null}
                  </span>
                  <Money value={item.lineTotal} />
                </li>
              );
            })}
          </ul>
          <p className="summary-row total">
            <span>Total</span>
            <strong>
              <Money value={cart.subtotal} />
            </strong>
          </p>
        </aside>
      </div>
    </section>
  );
}

export function CheckoutPage() {
  return (
    <RequireSignIn why="Sign in or create an account to check out. Your cart comes with you.">
      <CheckoutForm />
    </RequireSignIn>
  );
}
