import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CartPage } from './CartPage';
import { Header } from '../components/Header';
import { cart, mockGraphQL, renderApp } from '../test/utils';

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
});
