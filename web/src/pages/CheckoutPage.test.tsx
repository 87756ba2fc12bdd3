import { describe, expect, it } from 'vitest';
import { Route } from 'react-router';
import { fireEvent, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CheckoutPage } from './CheckoutPage';
import { cart, gqlError, mockGraphQL, order, renderApp, signedInAuth } from '../test/utils';

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
    extra: <Route path="/orders/:id" element={<p>order page</p>} />,
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
    expect(screen.getByRole('button', { name: 'Placing order…' })).toBeDisabled();
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
});
