import { Link, Route, Routes } from 'react-router';
import { Header } from './components/Header';
import { AdminPage, AdminProductPage } from './pages/AdminPages';
import { ChangePasswordPage, LoginPage, RegisterPage } from './pages/AuthPages';
import { CartPage } from './pages/CartPage';
import { CatalogPage } from './pages/CatalogPage';
import { CheckoutPage } from './pages/CheckoutPage';
import { OrderPage, OrdersPage } from './pages/OrderPages';
import { ProductPage } from './pages/ProductPage';

function NotFound() {
  return (
    <section className="panel narrow">
      <h1>Page not found</h1>
      <p>
        <Link to="/">Back to the shop</Link>
      </p>
    </section>
  );
}

export function App() {
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Header />
      <main id="main" className="container" tabIndex={-1}>
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
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
      <footer className="site-footer">
        <div className="container muted small">shopmesh demo store · payments in Stripe test mode</div>
      </footer>
    </>
  );
}
