import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CatalogPage } from './CatalogPage';
import { connection, gqlError, mockGraphQL, product, renderApp } from '../test/utils';

function catalogBackend() {
  return mockGraphQL({
    Categories: () => ({ data: { categories: [{ slug: 'outdoor', productCount: 1 }, { slug: 'kitchen', productCount: 3 }] } }),
    Products: (vars) => {
      if (vars.search === 'kettle') return { data: { products: connection([product(9, 50, { name: 'Copper Kettle' })], null, false) } };
      if (vars.after === 'page-1-end') return { data: { products: connection([product(3)], null, false) } };
      return { data: { products: connection([product(1, 20), product(2, 3), product(4, 0)], 'page-1-end', true) } };
    },
    Cart: () => ({ data: { cart: { id: 'c', items: [], itemCount: 0, subtotal: { amountMinor: 0, currency: 'EUR', formatted: '' } } } }),
  });
}

describe('CatalogPage', () => {
  it('shows products with money, stock badges and cursor paging', async () => {
    const fake = catalogBackend();
    renderApp(<CatalogPage />);
    const grid = await screen.findByRole('list', { name: 'Products' });
    expect(within(grid).getAllByRole('listitem')).toHaveLength(3);
    expect(screen.getByRole('link', { name: 'Product 1' })).toHaveAttribute('href', '/products/KIT-001');
    expect(screen.getByText(new Intl.NumberFormat(undefined, { style: 'currency', currency: 'EUR' }).format(10.01))).toBeInTheDocument();
    expect(screen.getByText('Only 3 left')).toBeInTheDocument();
    expect(screen.getByText('Out of stock')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Sold out: Product 4' })).toHaveAttribute('aria-disabled', 'true');
    expect(screen.getByRole('button', { name: 'Add Product 1 to cart' })).not.toHaveAttribute('aria-disabled');

    await userEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(within(grid).getAllByRole('listitem')).toHaveLength(4));
    expect(fake.sent('Products').at(-1)?.variables).toMatchObject({ after: 'page-1-end', first: 24 });
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
  });

  it('searches and filters by category', async () => {
    const fake = catalogBackend();
    renderApp(<CatalogPage />);
    await screen.findByRole('list', { name: 'Products' });
    await userEvent.type(screen.getByLabelText('Search products'), 'kettle');
    await userEvent.click(screen.getByRole('button', { name: 'Search' }));
    expect(await screen.findByRole('link', { name: 'Copper Kettle' })).toBeInTheDocument();
    expect(fake.sent('Products').at(-1)?.variables).toMatchObject({ search: 'kettle' });

    const select = screen.getByLabelText('Category');
    await waitFor(() => expect(within(select).getByRole('option', { name: 'Outdoor (1)' })).toBeInTheDocument());
    expect(within(select).getAllByRole('option').map((o) => o.textContent)).toEqual(['All categories (4)', 'Kitchen (3)', 'Outdoor (1)']);
    // The categories come from their own query, not from a page of 100 products.
    expect(fake.sent('Products').every((r) => r.variables.first === 24)).toBe(true);
    await userEvent.selectOptions(select, 'outdoor');
    await waitFor(() => expect(fake.sent('Products').at(-1)?.variables).toMatchObject({ search: 'kettle', category: 'outdoor' }));
  });

  it('adds to the cart and says so', async () => {
    const added = { id: 'c', items: [], itemCount: 1, subtotal: { amountMinor: 1001, currency: 'EUR', formatted: '' } };
    const backend = mockGraphQL({
      Categories: () => ({ data: { categories: [] } }),
      Products: () => ({ data: { products: connection([product(1)], null, false) } }),
      AddToCart: () => ({ data: { addToCart: added } }),
    });
    renderApp(<CatalogPage />);
    await userEvent.click(await screen.findByRole('button', { name: 'Add Product 1 to cart' }));
    expect(await screen.findByText('Added to cart')).toBeInTheDocument();
    expect(backend.sent('AddToCart')[0]?.variables).toEqual({ sku: 'KIT-001', quantity: 1 });
  });

  it('explains a refusal where the shopper clicked', async () => {
    mockGraphQL({
      Categories: () => ({ data: { categories: [] } }),
      Products: () => ({ data: { products: connection([product(1)], null, false) } }),
      AddToCart: () => ({ data: null, errors: [{ message: 'only 0 left', extensions: { code: 'OUT_OF_STOCK' } }] }),
    });
    renderApp(<CatalogPage />);
    await userEvent.click(await screen.findByRole('button', { name: 'Add Product 1 to cart' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('not enough stock');
  });

  it('never labels the old list with a new search while it loads or after it failed', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    mockGraphQL({
      Categories: () => ({ data: { categories: [] } }),
      Products: async (vars) => {
        if (vars.search === 'lamp') {
          await gate;
          return { data: { products: connection([product(5, 9, { name: 'Headlamp' })], null, false) } };
        }
        if (vars.search === 'tent') return gqlError('UNAVAILABLE', 'product service down');
        return { data: { products: connection([product(1), product(2)], null, false) } };
      },
    });
    renderApp(<CatalogPage />);
    expect(await screen.findByText('Showing 2 products')).toBeInTheDocument();
    expect(document.title).toBe('Products · shopmesh');

    await userEvent.type(screen.getByLabelText('Search products'), 'lamp');
    await userEvent.click(screen.getByRole('button', { name: 'Search' }));
    expect(await screen.findByRole('status')).toHaveTextContent('Searching for “lamp”…');
    expect(screen.queryByText(/for “lamp”/, { selector: 'p.muted' })).not.toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Product 1' })).not.toBeInTheDocument();
    release();
    expect(await screen.findByText('Showing 1 product for “lamp”')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Headlamp' })).toBeInTheDocument();
    expect(document.title).toBe('Search: “lamp” · shopmesh');

    await userEvent.clear(screen.getByLabelText('Search products'));
    await userEvent.type(screen.getByLabelText('Search products'), 'tent');
    await userEvent.click(screen.getByRole('button', { name: 'Search' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not load products for “tent”.');
    expect(screen.queryByRole('link', { name: 'Headlamp' })).not.toBeInTheDocument();
    expect(screen.queryByText(/^Showing/)).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Try again' })).toBeInTheDocument();
  });
});
