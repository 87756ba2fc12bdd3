// The catalog: search (every word a prefix, as the BFF documents), a category filter and
// cursor paging. The filters live in the URL (?q=…&category=…), so results can be shared
// and the back button works.
import { useEffect, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useCategoriesQuery, useProductsInfiniteQuery } from '../api/api';
import type { ProductCard as ProductCardData } from '../api/models';
import { AddToCart } from '../components/AddToCart';
import { ErrorAlert, Loading } from '../components/Feedback';
import { Money } from '../components/Money';
import { ProductImage } from '../components/ProductImage';
import { StockBadge } from '../components/StockBadge';

export function ProductCard({ product }: { product: ProductCardData }) {
  const href = `/products/${encodeURIComponent(product.sku)}`;
  return (
    <li className="product-card">
      <Link to={href} className="product-card-image" tabIndex={-1} aria-hidden="true">
        <ProductImage src={product.imageUrl} name={product.name} category={product.category} />
      </Link>
      <div className="product-card-body">
        <h2 className="product-card-title">
          <Link to={href}>{product.name}</Link>
        </h2>
        <p className="muted small">{product.category}</p>
        <p className="product-card-price">
          <Money value={product.price} />
          <StockBadge stock={product.stock} />
        </p>
        <AddToCart sku={product.sku} name={product.name} stock={product.stock} compact />
      </div>
    </li>
  );
}

export function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const search = params.get('q') ?? '';
  const category = params.get('category') ?? '';
  const [draft, setDraft] = useState(search);
  useEffect(() => setDraft(search), [search]);

  const { data: categories } = useCategoriesQuery();
  const { data, error, isLoading, isFetching, isFetchingNextPage, hasNextPage, fetchNextPage } =
    useProductsInfiniteQuery({ search, category });
  const products = data?.pages.flatMap((page) => page.edges.map((edge) => edge.node)) ?? [];

  const update = (next: { q?: string; category?: string }) => {
    const merged = { q: search, category, ...next };
    const out = new URLSearchParams();
    if (merged.q.trim()) out.set('q', merged.q.trim());
    if (merged.category) out.set('category', merged.category);
    setParams(out);
  };

  const onSearch = (event: FormEvent) => {
    event.preventDefault();
    update({ q: draft });
  };

  const categoryOptions = [...new Set([...(categories ?? []), ...(category ? [category] : [])])].sort();

  return (
    <section>
      <h1 className="visually-hidden">Products</h1>
      <form className="filters" role="search" onSubmit={onSearch}>
        <div className="field grow">
          <label htmlFor="search">Search products</label>
          <input
            id="search"
            type="search"
            name="q"
            value={draft}
            placeholder="e.g. kettle, tent, lamp"
            onChange={(e) => setDraft(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="category">Category</label>
          <select id="category" value={category} onChange={(e) => update({ category: e.target.value })}>
            <option value="">All categories</option>
            {categoryOptions.map((c) => (
              <option key={c} value={c}>
                {c[0]?.toUpperCase()}
                {c.slice(1)}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="button primary">
          Search
        </button>
        {search || category ? (
          <button type="button" className="button" onClick={() => setParams(new URLSearchParams())}>
            Clear
          </button>
        ) : null}
      </form>

      <ErrorAlert error={error} title="Could not load products." />
      {isLoading ? <Loading label="Loading products…" /> : null}
      {!isLoading && !error && products.length === 0 ? (
        <p className="empty">
          No products match{search ? ` “${search}”` : ''}
          {category ? ` in ${category}` : ''}.
        </p>
      ) : null}

      {products.length > 0 ? (
        <>
          <p className="muted small" aria-live="polite">
            Showing {products.length} product{products.length === 1 ? '' : 's'}
            {search ? ` for “${search}”` : ''}
            {category ? ` in ${category}` : ''}
            {isFetching && !isFetchingNextPage ? ' (updating…)' : ''}
          </p>
          <ul className="product-grid" aria-label="Products">
            {products.map((product) => (
              <ProductCard key={product.id} product={product} />
            ))}
          </ul>
        </>
      ) : null}

      {hasNextPage ? (
        <div className="load-more">
          <button type="button" className="button" disabled={isFetchingNextPage} onClick={() => void fetchNextPage()}>
            {isFetchingNextPage ? 'Loading…' : 'Load more'}
          </button>
        </div>
      ) : null}
    </section>
  );
}
