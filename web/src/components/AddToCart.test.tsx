import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { AddToCart } from './AddToCart';
import { cart, mockGraphQL, renderApp } from '../test/utils';

describe('AddToCart', () => {
  it('never asks for more than is available: 3 of 3 in the cart, one more is refused where the shopper clicked', async () => {
    let current = cart([]);
    const fake = mockGraphQL({
      Cart: () => ({ data: { cart: current } }),
      AddToCart: (vars) => {
        current = cart([{ sku: 'KIT-001', quantity: (vars.quantity as number) + (current.items[0]?.quantity ?? 0), unitMinor: 500, available: 3 }]);
        return { data: { addToCart: current } };
      },
    });
    renderApp(<AddToCart sku="KIT-001" name="Mug" stock={{ available: 3 }} quantity={3} />);
    const button = await screen.findByRole('button', { name: 'Add to cart' });
    await waitFor(() => expect(fake.sent('Cart')).toHaveLength(1));
    await userEvent.click(button);
    expect(await screen.findByText('Added 3 to cart')).toBeInTheDocument();
    // Focus stays on the button through "Adding…" (never falls to the page).
    expect(button).toHaveFocus();

    await userEvent.click(button);
    expect(await screen.findByRole('alert')).toHaveTextContent('You already have all 3 available in your cart.');
    // One message at a time: the confirmation is gone.
    expect(screen.queryByText('Added 3 to cart')).not.toBeInTheDocument();
    expect(fake.sent('AddToCart')).toHaveLength(1);
    expect(button).toHaveFocus();
  });

  it('says how many more fit when some are already in the cart', async () => {
    const fake = mockGraphQL({ Cart: () => ({ data: { cart: cart([{ sku: 'KIT-001', quantity: 2, unitMinor: 500, available: 3 }]) } }) });
    renderApp(<AddToCart sku="KIT-001" name="Mug" stock={{ available: 3 }} quantity={2} />);
    await waitFor(() => expect(fake.sent('Cart')).toHaveLength(1));
    await userEvent.click(await screen.findByRole('button', { name: 'Add to cart' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Only 1 more is available (you have 2 in your cart).');
    expect(fake.sent('AddToCart')).toHaveLength(0);
  });

  it('clears a refusal when the next add succeeds', async () => {
    let calls = 0;
    mockGraphQL({
      Cart: () => ({ data: { cart: cart([]) } }),
      AddToCart: () => {
        calls += 1;
        return calls === 1
          ? { data: null, errors: [{ message: 'only 0 left', extensions: { code: 'OUT_OF_STOCK' } }] }
          : { data: { addToCart: cart([{ sku: 'KIT-001', quantity: 1, unitMinor: 500 }]) } };
      },
    });
    renderApp(<AddToCart sku="KIT-001" name="Mug" stock={{ available: 9 }} />);
    const button = await screen.findByRole('button', { name: 'Add to cart' });
    await userEvent.click(button);
    expect(await screen.findByRole('alert')).toHaveTextContent('not enough stock');
    await userEvent.click(button);
    expect(await screen.findByText('Added to cart')).toBeInTheDocument();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });
});
