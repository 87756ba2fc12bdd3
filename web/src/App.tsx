import { lazy, Suspense } from 'react';
import { Link, Route, Routes } from 'react-router';
import { Header } from './components/Header';
import { Loading, NotFound } from './components/Feedback';
import { RouteEffects } from './components/RouteEffects';
import { ChangePasswordPage, LoginPage, RegisterPage } from './pages/AuthPages';
import { CartPage } from './pages/CartPage';
import { CatalogPage } from './pages/CatalogPage';
import { CheckoutPage } from './pages/CheckoutPage';
import { OrderPage, OrdersPage } from './pages/OrderPages';
import { ProductPage } from './pages/ProductPage';
import { usePageTitle } from './lib/page';

// The admin pages are for staff only: their code loads when an admin opens them, not on a
// shopper's first visit (scripts/bundle.mjs fails the build if they reach the first load).
const AdminPage = lazy(() => import('./pages/AdminPages').then((m) => ({ default: m.AdminPage })));
const AdminProductPage = lazy(() => import('./pages/AdminPages').then((m) => ({ default: m.AdminProductPage })));

function PageNotFound() {
  usePageTitle('Page not found');
  return (
    <NotFound title="Page not found">
      <Link to="/">Back to the shop</Link>
    </NotFound>
  );
}

export function App() {
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <RouteEffects />
      <Header />
      <main id="main" className="container" tabIndex={-1}>
        <Suspense fallback={<Loading label="Loading the page…" />}>
          <Routes>
            <Route path="/" element={<CatalogPage />} />
            <Route path="/products/:sku" element={<ProductPage />} />
            <Route path="/cart" element={<CartPage />} />
            <Route path="/checkout" element={<CheckoutPage />} />
            <Route path="/login" element={<LoginPage />} />
            <Route path="/register" element={<RegisterPage />} />
            <Route path="/account/password" element={<ChangePasswordPage />} />
            <Route path="/orders" element={<OrdersPage />} />
            <Route path="/orders/:id" element={<OrderPage />} />
            <Route path="/admin" element={<AdminPage />} />
            <Route path="/admin/products/:sku" element={<AdminProductPage />} />
            <Route path="*" element={<PageNotFound />} />
          </Routes>
        </Suspense>
      </main>
      <footer className="site-footer">
        <div className="container muted small">shopmesh demo store · payments in Stripe test mode</div>
      </footer>
    </>
  );
}
