import { describe, expect, it } from 'vitest';
import { Route } from 'react-router';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CheckoutPage } from './CheckoutPage';
import { cart, gqlError, mockGraphQL, order, renderApp, signedInAuth } from '../test/utils';
import { CHECKOUT_ADDRESS_KEY } from '../lib/checkoutAddress';

const filled = cart([{ sku: 'KIT-001', quantity: 2, unitMinor: 1250 }]);

async function fillAddress() {
  await userEvent.type(screen.getByLabelText('Address line 1'), 'Invalidenstr. 1');
  await userEvent.type(screen.getByLabelText('Postal code'), '10115');
  await userEvent.type(screen.getByLabelText('City'), 'Berlin');
  await userEvent.selectOptions(screen.getByLabelText('Country'), 'DE');
}

function renderCheckout() {
  return renderApp(<CheckoutPage />, {
    route: '/checkout',
    path: '/checkout',
    auth: signedInAuth(),
    extra: (
      <>
        <Route path="/orders/:id" element={<p>order page</p>} />
        <Route path="/orders" element={<p>orders list</p>} />
      </>
    ),
  });
}

describe('CheckoutPage', () => {
  it('asks a guest to sign in first', async () => {
    mockGraphQL({ Cart: () => ({ data: { cart: filled } }) });
    renderApp(<CheckoutPage />, { route: '/checkout', path: '/checkout' });
    expect(screen.getByRole('link', { name: 'Sign in' })).toHaveAttribute('href', '/login?next=%2Fcheckout');
  });

  it('places one order however often the button is pressed, then opens it', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fake = mockGraphQL({
      Cart: () => ({ data: { cart: filled } }),
      Checkout: async () => {
        await gate;
        return { data: { checkout: order() } };
      },
      Order: () => ({ data: { order: order() } }),
    });
    renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    expect(screen.getByLabelText('Full name')).toHaveValue('Ada');
    await fillAddress();
    const form = screen.getByRole('form', { name: 'Checkout' });
    fireEvent.submit(form);
    fireEvent.submit(form);
    fireEvent.submit(form);
    expect(screen.getByRole('button', { name: 'Placing order…' })).toHaveAttribute('aria-disabled', 'true');
    release();
    expect(await screen.findByText('order page')).toBeInTheDocument();
    expect(fake.sent('Checkout')).toHaveLength(1);
    expect(fake.sent('Checkout')[0]?.variables.input).toMatchObject({
      paymentMethod: 'pm_card_visa',
      shippingAddress: { name: 'Ada', line1: 'Invalidenstr. 1', line2: null, city: 'Berlin', postalCode: '10115', country: 'DE' },
    });
  });

  it('retries a failed submit with the same idempotency key, and a changed one with a new key', async () => {
    const answers = [
      () => {
        throw new TypeError('Failed to fetch');
      },
      () => gqlError('UNAVAILABLE'),
      () => ({ data: { checkout: order() } }),
    ];
    const fake = mockGraphQL({
      Cart: () => ({ data: { cart: filled } }),
      Checkout: () => answers.shift()!(),
      Order: () => ({ data: { order: order() } }),
    });
    renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    await fillAddress();
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Cannot reach the shop');
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('temporarily unavailable');
    const [first, second] = fake.sent('Checkout').map((r) => (r.variables.input as { idempotencyKey: string }).idempotencyKey);
    expect(first).toBeTruthy();
    expect(second).toBe(first);

    await userEvent.click(screen.getByLabelText(/declined/));
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    expect(await screen.findByText('order page')).toBeInTheDocument();
    const third = (fake.sent('Checkout')[2]?.variables.input as { idempotencyKey: string; paymentMethod: string });
    expect(third.paymentMethod).toBe('pm_card_chargeDeclined');
    expect(third.idempotencyKey).not.toBe(first);
  });

  it('shows field errors from the BFF next to their fields', async () => {
    mockGraphQL({
      Cart: () => ({ data: { cart: filled } }),
      Checkout: () =>
        gqlError('BAD_USER_INPUT', 'invalid input', {
          field: 'input.shippingAddress.postalCode',
          fields: [{ field: 'input.shippingAddress.postalCode', message: "must be letters, digits, spaces or '-'" }],
        }),
    });
    renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    await fillAddress();
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Please check the highlighted fields.');
    const postal = screen.getByLabelText('Postal code');
    expect(postal).toHaveAttribute('aria-invalid', 'true');
    expect(postal).toHaveAccessibleDescription("must be letters, digits, spaces or '-'");
  });

  it('checks required fields before sending anything', async () => {
    const fake = mockGraphQL({ Cart: () => ({ data: { cart: filled } }) });
    renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    expect(screen.getByLabelText('City')).toHaveAccessibleDescription('Please enter the city.');
    expect(screen.getByLabelText('Address line 2 (optional)')).not.toHaveAttribute('aria-invalid');
    await waitFor(() => expect(fake.sent('Checkout')).toHaveLength(0));
  });

  it('sums up the problems at the top, each a link that moves focus to its field', async () => {
    mockGraphQL({ Cart: () => ({ data: { cart: filled } }) });
    renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    expect(document.title).toBe('Checkout · shopmesh');
    await userEvent.type(screen.getByLabelText('Address line 1'), 'Invalidenstr. 1');
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    const summary = screen.getByRole('alert');
    expect(summary).toHaveFocus();
    expect(within(summary).getByRole('heading')).toHaveTextContent('There are 2 problems');
    const links = within(summary).getAllByRole('link');
    expect(links.map((a) => a.textContent)).toEqual(['Postal code: Please enter the postal code.', 'City: Please enter the city.']);
    await userEvent.click(links[1]!);
    expect(screen.getByLabelText('City')).toHaveFocus();
  });

  it('shows lines that exceed the stock and does not send the order', async () => {
    const fake = mockGraphQL({
      Cart: () => ({ data: { cart: cart([{ sku: 'KIT-001', quantity: 4, unitMinor: 500, available: 3 }, { sku: 'KIT-002', quantity: 1, unitMinor: 500 }]) } }),
    });
    renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    const blocked = screen.getByTestId('checkout-blocked');
    expect(blocked).toHaveTextContent('Name of KIT-001: Only 3 left: lower the quantity in your cart.');
    expect(blocked).not.toHaveTextContent('KIT-002');
    expect(within(blocked).getByRole('link', { name: 'Change your cart' })).toHaveAttribute('href', '/cart');
    const summary = screen.getByRole('complementary', { name: 'Order summary' });
    expect(within(summary).getByText('Only 3 left: lower the quantity in your cart.')).toBeInTheDocument();
    await fillAddress();
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    expect(blocked).toHaveFocus();
    expect(fake.sent('Checkout')).toHaveLength(0);
  });

  it('explains items held by an order awaiting payment with the server’s words and a way to the orders', async () => {
    mockGraphQL({
      Cart: () => ({ data: { cart: filled } }),
      Checkout: () =>
        gqlError('ITEMS_AWAITING_PAYMENT', 'KIT-001 is in order 0190B3C4 which is still awaiting payment: complete or cancel it first', {
          reason: 'ITEMS_AWAITING_PAYMENT',
        }),
    });
    renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    await fillAddress();
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('KIT-001 is in order 0190B3C4 which is still awaiting payment: complete or cancel it first');
    await userEvent.click(within(alert).getByRole('link', { name: 'See your orders' }));
    expect(await screen.findByText('orders list')).toBeInTheDocument();
  });

  it('keeps the last submitted address (country included) for a retry after a decline', async () => {
    mockGraphQL({
      Cart: () => ({ data: { cart: filled } }),
      Checkout: () => ({ data: { checkout: order() } }),
      Order: () => ({ data: { order: order() } }),
    });
    const first = renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    await fillAddress();
    await userEvent.selectOptions(screen.getByLabelText('Country'), 'FR');
    await userEvent.click(screen.getByRole('button', { name: 'Place order' }));
    expect(await screen.findByText('order page')).toBeInTheDocument();
    first.unmount();

    renderCheckout();
    await screen.findByRole('heading', { name: 'Checkout' });
    expect(screen.getByLabelText('Address line 1')).toHaveValue('Invalidenstr. 1');
    expect(screen.getByLabelText('City')).toHaveValue('Berlin');
    expect(screen.getByLabelText('Country')).toHaveValue('FR');
    expect(JSON.parse(sessionStorage.getItem(CHECKOUT_ADDRESS_KEY) ?? '{}')).toMatchObject({ country: 'FR', postalCode: '10115' });
  });
});
