// Checkout: shipping address, a (test) payment method, one order. The idempotency key is
// made once per attempt and sent again on every retry of the same submit, so a double
// click, a flaky network or an impatient second press never places two orders (see
// lib/idempotency.ts). The order comes back PENDING; the order page follows it live.
import { useMemo, useRef, useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useCartQuery, useCheckoutMutation } from '../api/api';
import { fieldErrors } from '../api/errors';
import type { Address } from '../api/models';
import { ErrorAlert, Loading } from '../components/Feedback';
import { SelectField, TextField } from '../components/Field';
import { Money } from '../components/Money';
import { RequireSignIn } from '../components/RequireSignIn';
import { countryOptions, defaultCountry } from '../lib/countries';
import { createAttemptKeeper, fingerprint } from '../lib/idempotency';
import { TEST_PAYMENT_METHODS } from '../lib/orders';
import { useAppSelector } from '../store/hooks';
import { selectUser } from '../store/authSlice';

type AddressForm = Required<{ [K in keyof Address]: string }>;

export function validateAddress(address: AddressForm): Partial<Record<keyof AddressForm, string>> {
  const errors: Partial<Record<keyof AddressForm, string>> = {};
  if (!address.name.trim()) errors.name = 'Please enter the recipient’s name.';
  if (!address.line1.trim()) errors.line1 = 'Please enter the street and house number.';
  if (!address.city.trim()) errors.city = 'Please enter the city.';
  if (!address.postalCode.trim()) errors.postalCode = 'Please enter the postal code.';
  if (!/^[A-Z]{2}$/.test(address.country.trim().toUpperCase())) errors.country = 'Please choose a country.';
  return errors;
}

function CheckoutForm() {
  const user = useAppSelector(selectUser);
  const navigate = useNavigate();
  const { data: cart, isLoading: cartLoading, error: cartError } = useCartQuery();
  const [checkout, { isLoading, error }] = useCheckoutMutation();
  const keeper = useRef(createAttemptKeeper()).current;
  const inFlight = useRef(false);
  const countries = useMemo(() => countryOptions(), []);
  const [address, setAddress] = useState<AddressForm>({
    name: user?.name ?? '',
    line1: '',
    line2: '',
    city: '',
    postalCode: '',
    country: defaultCountry(),
  });
  const [paymentMethod, setPaymentMethod] = useState<string>(TEST_PAYMENT_METHODS[0].id);
  const [local, setLocal] = useState<Record<string, string>>({});

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

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (inFlight.current) return; // a second click while the first is on its way
    const problems = validateAddress(address);
    setLocal(problems);
    if (Object.keys(problems).length) return;

    const shippingAddress: Address = {
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
        navigate(`/orders/${encodeURIComponent(result.data.id)}`);
      }
    } finally {
      inFlight.current = false;
    }
  };

  const server = { ...fieldErrors(error, 'input.'), ...fieldErrors(error, 'input.shippingAddress.') };
  const errors: Record<string, string | undefined> = { ...server, ...local };
  const set = (key: keyof AddressForm) => (e: { target: { value: string } }) => setAddress((a) => ({ ...a, [key]: e.target.value }));

  return (
    <section className="checkout">
      <h1>Checkout</h1>
      <div className="checkout-grid">
        <form onSubmit={onSubmit} noValidate aria-label="Checkout">
          <ErrorAlert error={error} title="Your order was not placed." />
          <fieldset>
            <legend>Shipping address</legend>
            <TextField label="Full name" name="name" autoComplete="shipping name" required value={address.name} error={errors.name} onChange={set('name')} />
            <TextField label="Address line 1" name="line1" autoComplete="shipping address-line1" required value={address.line1} error={errors.line1} onChange={set('line1')} />
            <TextField label="Address line 2 (optional)" name="line2" autoComplete="shipping address-line2" value={address.line2} error={errors.line2} onChange={set('line2')} />
            <div className="field-row">
              <TextField label="Postal code" name="postalCode" autoComplete="shipping postal-code" required value={address.postalCode} error={errors.postalCode} onChange={set('postalCode')} />
              <TextField label="City" name="city" autoComplete="shipping address-level2" required value={address.city} error={errors.city} onChange={set('city')} />
            </div>
            <SelectField label="Country" name="country" autoComplete="shipping country" required value={address.country} error={errors.country} onChange={set('country')}>
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
            {TEST_PAYMENT_METHODS.map((method) => (
              <label key={method.id} className="radio">
                <input type="radio" name="paymentMethod" value={method.id} checked={paymentMethod === method.id} onChange={() => setPaymentMethod(method.id)} />
                {method.label}
              </label>
            ))}
            {errors.paymentMethod ? <p className="field-error">{errors.paymentMethod}</p> : null}
          </fieldset>
          <button type="submit" className="button primary block" disabled={isLoading}>
            {isLoading ? 'Placing order…' : 'Place order'}
          </button>
        </form>
        <aside className="panel order-summary" aria-label="Order summary">
          <h2>Order summary</h2>
          <ul className="summary-lines">
            {cart.items.map((item) => (
              <li key={item.sku} className="summary-row">
                <span>
                  {item.quantity} × {item.product?.name ?? item.productName}
                </span>
                <Money value={item.lineTotal} />
              </li>
            ))}
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
