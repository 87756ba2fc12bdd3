// The catalog: search (the server matches inside words and forgives a typo; nothing is
// filtered here), a category filter from the `categories` query (with counts) and cursor
// paging. The filters live in the URL (?q=…&category=…), so results can be shared
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
import { usePageTitle } from '../lib/page';

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
        <p className="muted small category-name">{product.category}</p>
        <p className="product-card-price">
          <Money value={product.price} />
          <StockBadge stock={product.stock} />
        </p>
        <AddToCart sku={product.sku} name={product.name} stock={product.stock} compact />
      </div>
    </li>
  );
}

/** "kitchen" -> "Kitchen", for display (the slug stays the value). */
function categoryName(slug: string): string {
  return `${slug[0]?.toUpperCase() ?? ''}${slug.slice(1)}`;
}

export function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const search = params.get('q') ?? '';
  const category = params.get('category') ?? '';
  const [draft, setDraft] = useState(search);
  useEffect(() => setDraft(search), [search]);
  usePageTitle(search ? `Search: “${search}”` : category ? categoryName(category) : 'Products');

  const { data: categories } = useCategoriesQuery();
  // `currentData` is only ever the answer for this search and category: while a new one
  // loads, or after it failed, the previous list is not shown under the new words.
  const { currentData, error, isError, isFetching, isFetchingNextPage, hasNextPage, fetchNextPage, refetch } =
    useProductsInfiniteQuery({ search, category });
  const products = currentData?.pages.flatMap((page) => page.edges.map((edge) => edge.node)) ?? [];
  const what = `${search ? ` for “${search}”` : ''}${category ? ` in ${categoryName(category)}` : ''}`;

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

  const options = [...(categories ?? [])];
  if (category && !options.some((c) => c.slug === category)) options.push({ slug: category, productCount: 0 });
  const total = (categories ?? []).reduce((n, c) => n + c.productCount, 0);

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
            <option value="">All categories{total ? ` (${total})` : ''}</option>
            {options.map((c) => (
              <option key={c.slug} value={c.slug}>
                {categoryName(c.slug)}
                {c.productCount ? ` (${c.productCount})` : ''}
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

      {isError && !currentData ? (
        <div className="catalog-error">
          <ErrorAlert error={error} title={search || category ? `Could not load products${what}.` : 'Could not load products.'} />
          <button type="button" className="button" onClick={() => void refetch()}>
            Try again
          </button>
        </div>
      ) : null}
      {!currentData && isFetching ? <Loading label={search ? `Searching for “${search}”…` : `Loading products${what}…`} /> : null}
      {currentData && products.length === 0 ? <p className="empty">No products match{what ? what.replace(/^ for/, '') : ''}.</p> : null}

      {products.length > 0 ? (
        <>
          <p className="muted small" aria-live="polite">
            Showing {products.length} product{products.length === 1 ? '' : 's'}
            {what}
            {isFetching && !isFetchingNextPage ? ' (updating…)' : ''}
          </p>
          <ul className="product-grid" aria-label="Products">
            {products.map((product) => (
              <ProductCard key={product.id} product={product} />
            ))}
          </ul>
        </>
      ) : null}

      {currentData && hasNextPage ? (
        <div className="load-more">
          <button type="button" className="button" aria-disabled={isFetchingNextPage || undefined} onClick={() => !isFetchingNextPage && void fetchNextPage()}>
            {isFetchingNextPage ? 'Loading…' : 'Load more'}
          </button>
        </div>
      ) : null}
    </section>
  );
}
