import { describe, expect, it } from 'vitest';
import { useEffect, useState } from 'react';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, Link, Route, Routes } from 'react-router';
import { RouteEffects } from './RouteEffects';
import { usePageTitle } from '../lib/page';

function ListPage() {
  usePageTitle('Products');
  return (
    <>
      <h1>Products</h1>
      <Link to="/item">Open the item</Link>
    </>
  );
}

/** Renders its heading only after "loading", like a product page. */
function SlowPage() {
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const timer = setTimeout(() => setReady(true), 50);
    return () => clearTimeout(timer);
  }, []);
  usePageTitle(ready ? 'Copper Kettle' : 'Loading product');
  return ready ? <h1>Copper Kettle</h1> : <p role="status">Loading…</p>;
}

function renderShell() {
  return render(
    <MemoryRouter initialEntries={['/']}>
      <RouteEffects />
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route path="/" element={<ListPage />} />
          <Route path="/item" element={<SlowPage />} />
        </Routes>
      </main>
    </MemoryRouter>,
  );
}

describe('navigation', () => {
  it('leaves the first page alone: no scroll, no focus move', () => {
    renderShell();
    expect(window.scrollTo).not.toHaveBeenCalled();
    expect(document.activeElement).toBe(document.body);
    expect(document.title).toBe('Products · shopmesh');
  });

  it('scrolls to the top and focuses the new page’s heading once it renders', async () => {
    renderShell();
    await userEvent.click(screen.getByRole('link', { name: 'Open the item' }));
    expect(window.scrollTo).toHaveBeenCalledWith({ top: 0, left: 0, behavior: 'instant' });
    const heading = await screen.findByRole('heading', { level: 1, name: 'Copper Kettle' });
    await waitFor(() => expect(heading).toHaveFocus());
    expect(heading).toHaveAttribute('tabindex', '-1');
    expect(document.title).toBe('Copper Kettle · shopmesh');
  });
});
