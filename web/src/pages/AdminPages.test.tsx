import { describe, expect, it } from 'vitest';
import { Route } from 'react-router';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { AdminPage, AdminProductPage, productPatch } from './AdminPages';
import { connection, gqlError, mockGraphQL, product, renderApp, signedInAuth } from '../test/utils';

describe('admin', () => {
  it('is closed to customers', () => {
    mockGraphQL({});
    renderApp(<AdminPage />, { route: '/admin', path: '/admin', auth: signedInAuth('CUSTOMER') });
    expect(screen.getByRole('heading', { name: 'Not allowed' })).toBeInTheDocument();
  });

  it('creates a product with the price in minor units and shows field errors', async () => {
    let calls = 0;
    const fake = mockGraphQL({
      Products: () => ({ data: { products: connection([product(1)], null, false) } }),
      CreateProduct: (vars) => {
        calls += 1;
        if (calls === 1) return gqlError('ALREADY_EXISTS', 'sku taken', { reason: 'SKU_TAKEN' });
        return { data: { createProduct: product(7, 0, { sku: (vars.input as { sku: string }).sku }) } };
      },
    });
    renderApp(<AdminPage />, {
      route: '/admin',
      path: '/admin',
      auth: signedInAuth('ADMIN'),
      extra: <Route path="/admin/products/:sku" element={<p>edit page</p>} />,
    });
    expect(await screen.findByRole('cell', { name: 'KIT-001' })).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('SKU'), 'NEW-1');
    await userEvent.type(screen.getByLabelText('Name'), 'Enamel Mug');
    await userEvent.type(screen.getByLabelText('Price'), '12.5');
    await userEvent.type(screen.getByLabelText('Category'), 'Kitchen');
    await userEvent.click(screen.getByRole('button', { name: 'Create product' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('A product with this SKU already exists.');
    expect(fake.sent('CreateProduct')[0]?.variables.input).toEqual({
      sku: 'NEW-1',
      name: 'Enamel Mug',
      description: '',
      price: { amountMinor: 1250, currency: 'EUR' },
      category: 'kitchen',
      imageUrl: '',
    });
    await userEvent.click(screen.getByRole('button', { name: 'Create product' }));
    expect(await screen.findByText('edit page')).toBeInTheDocument();
  });

  it('edits only the changed fields with the expected version, and sets stock', async () => {
    const p = product(1, 4, { version: 6 });
    const fake = mockGraphQL({
      Product: () => ({ data: { product: p } }),
      UpdateProduct: () => ({ data: { updateProduct: { ...p, name: 'Better', version: 7 } } }),
      SetStock: (vars) => ({ data: { setStock: { sku: p.sku, onHand: vars.onHand, reserved: 0, available: vars.onHand } } }),
    });
    renderApp(<AdminProductPage />, { route: '/admin/products/KIT-001', path: '/admin/products/:sku', auth: signedInAuth('ADMIN') });
    const name = await screen.findByLabelText('Name');
    await userEvent.clear(name);
    await userEvent.type(name, 'Better');
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }));
    await waitFor(() => expect(fake.sent('UpdateProduct')).toHaveLength(1));
    expect(fake.sent('UpdateProduct')[0]?.variables).toEqual({ id: 'p-1', input: { name: 'Better' }, expectedVersion: 6 });

    const onHand = screen.getByLabelText('Units on hand');
    await userEvent.clear(onHand);
    await userEvent.type(onHand, '-1');
    await userEvent.click(screen.getByRole('button', { name: 'Set stock' }));
    expect(onHand).toHaveAccessibleDescription('Enter a whole number, 0 or more.');
    expect(screen.getByRole('alert')).toHaveTextContent('Units on hand: Enter a whole number, 0 or more.');
    await userEvent.clear(onHand);
    await userEvent.type(onHand, '40');
    await userEvent.click(screen.getByRole('button', { name: 'Set stock' }));
    expect(await screen.findByText('Stock updated.')).toBeInTheDocument();
    expect(fake.sent('SetStock')[0]?.variables).toEqual({ sku: 'KIT-001', onHand: 40 });
  });

  it('builds a patch of what changed', () => {
    const before = { sku: 'A', name: 'Mug', description: '', price: '12.50', currency: 'EUR', category: 'kitchen', imageUrl: '' };
    expect(productPatch(before, { ...before })).toEqual({});
    expect(productPatch(before, { ...before, price: '12.5' })).toEqual({});
    expect(productPatch(before, { ...before, price: '13', category: ' Home ' })).toEqual({
      price: { amountMinor: 1300, currency: 'EUR' },
      category: 'home',
    });
  });

  it('previews the image URL as it is typed and refuses one the shop would not accept', async () => {
    const p = product(1, 4, { imageUrl: '' });
    const fake = mockGraphQL({ Product: () => ({ data: { product: p } }) });
    renderApp(<AdminProductPage />, { route: '/admin/products/KIT-001', path: '/admin/products/:sku', auth: signedInAuth('ADMIN') });
    const field = await screen.findByLabelText('Image URL');
    await waitFor(() => expect(document.title).toBe('Product 1 · Admin · shopmesh'));
    expect(screen.getByText('No image: the shop shows the product’s initials.')).toBeInTheDocument();
    await userEvent.type(field, '/images/kitchen/KIT-001.svg');
    const preview = await screen.findByRole('img', { name: 'Preview of the product image' });
    expect(preview).toHaveAttribute('src', '/images/kitchen/KIT-001.svg');
    act(() => {
      preview.dispatchEvent(new Event('error'));
    });
    expect(await screen.findByText('This image could not be loaded: check the address.')).toBeInTheDocument();

    await userEvent.clear(field);
    await userEvent.type(field, 'ftp://example.com/a.png');
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }));
    const summary = await screen.findByRole('alert');
    expect(within(summary).getByRole('link', { name: /^Image URL: Use a path on this shop/ })).toBeInTheDocument();
    expect(fake.sent('UpdateProduct')).toHaveLength(0);
  });
});
