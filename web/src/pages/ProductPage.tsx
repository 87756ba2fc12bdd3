import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useCartQuery, useProductQuery } from '../api/api';
import { AddToCart } from '../components/AddToCart';
import { Loading, NotFound, Unavailable } from '../components/Feedback';
import { Money } from '../components/Money';
import { ProductImage } from '../components/ProductImage';
import { StockBadge } from '../components/StockBadge';
import { quantityInCart } from '../lib/cartStock';
import { usePageTitle } from '../lib/page';

export function ProductPage() {
  const { sku = '' } = useParams();
  const { data: product, error, isLoading } = useProductQuery(sku);
  const { data: cart } = useCartQuery();
  const [quantity, setQuantity] = useState(1);
  usePageTitle(isLoading ? 'Loading product' : error ? 'Product unavailable' : product ? product.name : 'Product not found');

  if (isLoading) return <Loading label="Loading product…" />;
  if (error) return <Unavailable title="Product unavailable" error={error} what="this product" />;
  if (!product) {
    return (
      <NotFound title="Product not found">
        There is no product {sku}. <Link to="/">Back to the shop</Link>
      </NotFound>
    );
  }
  const available = product.stock?.available ?? 0;
  const max = Math.max(1, Math.min(available, 99));
  const inCart = quantityInCart(cart, product.sku);

  return (
    <article className="product-detail">
      <p className="breadcrumbs">
        <Link to="/">Shop</Link> › <Link className="category-name" to={`/?category=${encodeURIComponent(product.category)}`}>{product.category}</Link>
      </p>
      <div className="product-detail-grid">
        <ProductImage src={product.imageUrl} name={product.name} category={product.category} size="large" />
        <div>
          <h1>{product.name}</h1>
          <p className="muted small">SKU {product.sku}</p>
          <p className="price-large">
            <Money value={product.price} />
          </p>
          <p>
            <StockBadge stock={product.stock} />
          </p>
          {product.archived ? <p className="alert alert-warning">This product is no longer sold.</p> : null}
          {product.description ? <p className="description">{product.description}</p> : null}
          {!product.archived ? (
            <div className="buy-row">
              <div className="field small-field">
                <label htmlFor="quantity">Quantity</label>
                <input
                  id="quantity"
                  type="number"
                  min={1}
                  max={max}
                  value={quantity}
                  onChange={(e) => setQuantity(Math.max(1, Math.min(max, Number(e.target.value) || 1)))}
                />
              </div>
              <AddToCart sku={product.sku} name={product.name} stock={product.stock} quantity={quantity} />
            </div>
          ) : null}
          {inCart > 0 ? (
            <p className="muted small" data-testid="in-cart">
              {inCart} in <Link to="/cart">your cart</Link>
            </p>
          ) : null}
        </div>
      </div>
    </article>
  );
}
