import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CartPage } from './CartPage';
import { Header } from '../components/Header';
import { cart, gqlError, mockGraphQL, renderApp } from '../test/utils';

describe('CartPage', () => {
  it('changes quantities, removes lines with 0 and keeps the header count current', async () => {
    let current = cart([
      { sku: 'KIT-001', quantity: 2, unitMinor: 1250 },
      { sku: 'OUT-002', quantity: 1, unitMinor: 4999, available: 3 },
    ]);
    const fake = mockGraphQL({
      Cart: () => ({ data: { cart: current } }),
      UpdateCartItem: (vars) => {
        const items = current.items
          .map((i) => (i.sku === vars.sku ? { sku: i.sku, quantity: vars.quantity as number, unitMinor: i.unitPrice.amountMinor, available: i.product?.stock?.available ?? 50 } : { sku: i.sku, quantity: i.quantity, unitMinor: i.unitPrice.amountMinor, available: i.product?.stock?.available ?? 50 }))
          .filter((i) => i.quantity > 0);
        current = cart(items);
        return { data: { updateCartItem: current } };
      },
    });
    renderApp(
      <>
        <Header />
        <CartPage />
      </>,
    );
    expect(await screen.findByRole('heading', { name: 'Your cart' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Cart, 3 items' })).toBeInTheDocument();
    expect(screen.getByText('Only 3 left')).toBeInTheDocument();
    const eur = (n: number) => new Intl.NumberFormat(undefined, { style: 'currency', currency: 'EUR' }).format(n);
    expect(screen.getByTestId('cart-subtotal')).toHaveTextContent(eur(74.99));

    await userEvent.click(screen.getByRole('button', { name: 'Increase quantity of Name of KIT-001' }));
    await waitFor(() => expect(screen.getByRole('link', { name: 'Cart, 4 items' })).toBeInTheDocument());
    expect(fake.sent('UpdateCartItem')[0]?.variables).toEqual({ sku: 'KIT-001', quantity: 3 });
    expect(screen.getByTestId('cart-subtotal')).toHaveTextContent(eur(87.49));

    const qty = screen.getByLabelText('Quantity of Name of OUT-002');
    await userEvent.clear(qty);
    await userEvent.type(qty, '0{Enter}');
    await waitFor(() => expect(screen.queryByText('Name of OUT-002')).not.toBeInTheDocument());
    expect(fake.sent('UpdateCartItem').at(-1)?.variables).toEqual({ sku: 'OUT-002', quantity: 0 });

    await userEvent.click(screen.getByRole('button', { name: 'Remove Name of KIT-001' }));
    expect(await screen.findByText('Your cart is empty.')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Cart, 0 items' })).toBeInTheDocument();
  });

  it('warns when a line asks for more than is available', async () => {
    mockGraphQL({ Cart: () => ({ data: { cart: cart([{ sku: 'KIT-001', quantity: 4, unitMinor: 100, available: 2 }]) } }) });
    renderApp(<CartPage />);
    expect(await screen.findByText(/Only 2 left: lower the quantity/)).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Check out' })).toHaveAttribute('aria-disabled', 'true');
  });

  it('refuses more than is available before asking the server, next to the highlighted field', async () => {
    const fake = mockGraphQL({ Cart: () => ({ data: { cart: cart([{ sku: 'KIT-001', quantity: 5, unitMinor: 100, available: 5 }]) } }) });
    renderApp(<CartPage />);
    expect(await screen.findByRole('heading', { name: 'Your cart' })).toBeInTheDocument();
    expect(document.title).toBe('Cart · shopmesh');
    await userEvent.click(screen.getByRole('button', { name: 'Increase quantity of Name of KIT-001' }));
    const qty = screen.getByLabelText('Quantity of Name of KIT-001');
    expect(qty).toHaveAttribute('aria-invalid', 'true');
    expect(qty).toHaveAccessibleDescription('Only 5 available.');
    await userEvent.clear(qty);
    await userEvent.type(qty, '7{Enter}');
    expect(qty).toHaveAccessibleDescription('Only 5 available.');
    expect(fake.sent('UpdateCartItem')).toHaveLength(0);
  });

  it('shows the server’s per-line limit next to the quantity it highlights, not a vague alert', async () => {
    mockGraphQL({
      Cart: () => ({ data: { cart: cart([{ sku: 'KIT-001', quantity: 1, unitMinor: 100, available: 20000 }]) } }),
      UpdateCartItem: () =>
        gqlError('BAD_USER_INPUT', 'invalid input: quantity: must be at most 99 units per line', {
          field: 'quantity',
          fields: [{ field: 'quantity', message: 'must be at most 99 units per line' }],
        }),
    });
    renderApp(<CartPage />);
    const qty = await screen.findByLabelText('Quantity of Name of KIT-001');
    await userEvent.clear(qty);
    await userEvent.type(qty, '9999{Enter}');
    await waitFor(() => expect(qty).toHaveAttribute('aria-invalid', 'true'));
    expect(qty).toHaveAccessibleDescription('Quantity must be at most 99 units per line.');
    expect(screen.queryByText(/Please check the highlighted fields/)).not.toBeInTheDocument();
    expect(screen.getAllByRole('alert')).toHaveLength(1);
  });
});
