// End to end against the real stack: the BFF serving web/dist at SHOP_WEB_URL (default
// http://127.0.0.1:8080) with every service behind it and the demo catalog seeded
// (`shop-seed`). Drives Debian's Chromium through playwright-core, the way a shopper would,
// and asserts what the UI shows: a guest searches and fills a cart, registers (the cart
// comes along), pays with a test card and watches the order turn CONFIRMED live over the
// `orderUpdated` subscription; a declined card ends CANCELLED with the reason in words; an
// admin creates a product and stocks it.
//
// Run: scripts/web.sh e2e   (or: SHOP_WEB_URL=… npx vitest run --config vitest.e2e.config.ts)
import { mkdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const BASE = (process.env.SHOP_WEB_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = new URL('../e2e-artifacts/', import.meta.url).pathname;
const ADMIN_EMAIL = process.env.SHOP_BOOTSTRAP_ADMIN_EMAIL ?? 'admin@shopmesh.dev';
const ADMIN_PASSWORD = process.env.SHOP_BOOTSTRAP_ADMIN_PASSWORD ?? 'shopmesh-admin';
/** How long the checkout saga may take to reach a final state. */
const SAGA_MS = 45_000;

const run = Date.now().toString(36);
const shopper = { name: 'E2E Shopper', email: `e2e-${run}@example.com`, password: 'correct-horse-battery' };

let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const cspViolations: string[] = [];
const sockets: string[] = [];

async function cartCount(p: Page = page): Promise<number> {
  return Number(await p.getByTestId('cart-count').textContent());
}

async function expectCartCount(expected: number, p: Page = page) {
  await p.getByRole('link', { name: `Cart, ${expected} ${expected === 1 ? 'item' : 'items'}` }).waitFor();
}

/** Adds the first product of a search that can still be bought; returns its name. */
async function addFirstAvailable(search: string): Promise<string> {
  await page.goto(`${BASE}/?q=${encodeURIComponent(search)}`);
  const grid = page.getByRole('list', { name: 'Products' });
  await page.getByText(new RegExp(`^Showing \\d+ products? for “${search}”$`)).waitFor();
  const button = grid.getByRole('button', { name: /^Add .* to cart$/ }).and(page.locator(':enabled')).first();
  const label = (await button.getAttribute('aria-label')) ?? '';
  const before = await cartCount();
  await button.click();
  await expectCartCount(before + 1);
  return label.replace(/^Add /, '').replace(/ to cart$/, '');
}

async function fillCheckout(paymentLabel: RegExp) {
  await page.getByRole('heading', { name: 'Checkout' }).waitFor();
  await page.getByLabel('Full name').fill(shopper.name);
  await page.getByLabel('Address line 1').fill('Invalidenstraße 117');
  await page.getByLabel('Postal code').fill('10115');
  await page.getByLabel('City').fill('Berlin');
  await page.getByLabel('Country').selectOption('DE');
  await page.getByLabel(paymentLabel).check();
}

describe.sequential('storefront against the running stack', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    // Chromium reports what the Content-Security-Policy blocked as console errors.
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
        cspViolations.push(message.text());
      }
    });
    page.on('websocket', (ws) => sockets.push(ws.url()));
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail' && page) {
      const file = `${ARTIFACTS}${ctx.task.name.replace(/\W+/g, '-')}.png`;
      await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      console.error(`screenshot: ${file}\nurl: ${page.url()}\npage errors: ${pageErrors.join('\n') || 'none'}`);
    }
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('serves the app and pages through the catalog', async () => {
    const response = await page.goto(BASE);
    // The app runs under the BFF's strict CSP (no inline script, same-origin only).
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    expect(response?.headers()['x-content-type-options']).toBe('nosniff');
    await expect(page.title()).resolves.toBe('shopmesh');
    const cards = page.getByRole('list', { name: 'Products' }).getByRole('listitem');
    await cards.first().waitFor();
    expect(await cards.count()).toBe(24);
    // Prices are localised from amountMinor + currency.
    await expect(cards.first().locator('.money').textContent()).resolves.toMatch(/^(€|\$|£)\d[\d,]*\.\d{2}$/);
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByRole('list', { name: 'Products' }).getByRole('listitem').nth(24).waitFor();
    expect(await cards.count()).toBe(48);
    await page.screenshot({ path: `${ARTIFACTS}catalog.png` });
  });

  it('lets a guest search, filter and fill a cart', async () => {
    await page.goto(BASE);
    await page.getByLabel('Search products').fill('kettle');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\?q=kettle/);
    await page.getByText(/^Showing \d+ products? for “kettle”$/).waitFor();
    const names = await page.getByRole('list', { name: 'Products' }).locator('.product-card-title').allTextContents();
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name.toLowerCase()).toContain('kettle');

    await page.getByLabel('Category').selectOption('outdoor');
    await page.waitForURL(/category=outdoor/);
    await expect(page.getByText(/No products match “kettle” in outdoor/).waitFor()).resolves.toBeUndefined();

    const first = await addFirstAvailable('kettle');
    expect(first.toLowerCase()).toContain('kettle');

    await page.getByRole('link', { name: /^Cart, / }).click();
    await page.getByRole('heading', { name: 'Your cart' }).waitFor();
    await page.getByRole('button', { name: `Increase quantity of ${first}` }).click();
    await expectCartCount(2);
    await page.getByRole('button', { name: `Decrease quantity of ${first}` }).click();
    await expectCartCount(1);
    await expect(page.getByTestId('cart-subtotal').textContent()).resolves.toMatch(/\d\.\d{2}/);
  });

  it('registers at checkout and keeps the guest cart', async () => {
    await page.getByRole('link', { name: 'Check out' }).click();
    await page.getByText('Sign in or create an account to check out.').waitFor();
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Name').fill(shopper.name);
    await page.getByLabel('Email').fill(shopper.email);
    await page.getByLabel('Password').fill(shopper.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${BASE}/checkout`);
    await page.getByText(`Hi, ${shopper.name}`).waitFor();
    // The BFF merged the guest cart into the new account.
    await expectCartCount(1);
    await expect(page.getByRole('complementary', { name: 'Order summary' }).getByRole('listitem').count()).resolves.toBe(1);
  });

  it('pays with pm_card_visa and sees the order CONFIRMED live', async () => {
    await fillCheckout(/test card: succeeds/);
    // A double click must not order twice (one idempotency key per attempt).
    await page.getByRole('button', { name: 'Place order' }).dblclick();
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    const status = page.getByTestId('order-status');
    await status.getByText('Confirmed', { exact: true }).waitFor({ timeout: SAGA_MS });
    await status.getByText(/Your order is confirmed/).waitFor();
    expect(sockets.some((url) => url.endsWith('/graphql/ws'))).toBe(true);
    await expect(page.getByRole('button', { name: 'Cancel order' }).count()).resolves.toBe(0);
    // What was bought leaves the cart.
    await expectCartCount(0);
  });

  it('shows a declined card as a cancelled order with the reason', async () => {
    await addFirstAvailable('lamp');
    await page.getByRole('link', { name: /^Cart, / }).click();
    await page.getByRole('link', { name: 'Check out' }).click();
    await fillCheckout(/test card: declined/);
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    const status = page.getByTestId('order-status');
    await status.getByText('Cancelled', { exact: true }).waitFor({ timeout: SAGA_MS });
    await expect(page.getByTestId('cancel-reason').textContent()).resolves.toBe(
      'Your payment was declined by the card issuer. You have not been charged.',
    );
    // A failed payment leaves the cart as it was, ready for another card.
    await expectCartCount(1);
    await page.getByRole('link', { name: 'Try another payment method' }).waitFor();
  });

  it('lists exactly the two orders in the history', async () => {
    await page.getByRole('link', { name: 'Orders', exact: true }).click();
    const rows = page.getByRole('list', { name: 'Orders' }).getByRole('listitem');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(2);
    await expect(rows.nth(0).textContent()).resolves.toContain('Cancelled');
    await expect(rows.nth(1).textContent()).resolves.toContain('Confirmed');
  });

  it('keeps a wrong password out and signs out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    // The header's link: a page that needs a signed-in user (orders) shows its own too.
    const headerSignIn = page.getByRole('banner').getByRole('link', { name: 'Sign in' });
    await headerSignIn.waitFor();
    await headerSignIn.click();
    await page.getByLabel('Email').fill(shopper.email);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('Email or password is incorrect.').waitFor();
  });

  it('lets the admin create a product and stock it', async () => {
    const admin = await browser.newContext({ locale: 'en-US' });
    admin.setDefaultTimeout(15_000);
    const p = await admin.newPage();
    try {
      await p.goto(`${BASE}/login?next=%2Fadmin`);
      await p.getByLabel('Email').fill(ADMIN_EMAIL);
      await p.getByLabel('Password').fill(ADMIN_PASSWORD);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.waitForURL(`${BASE}/admin`);
      await p.getByRole('heading', { name: 'Admin' }).waitFor();
      await p.getByRole('link', { name: 'Admin' }).waitFor();

      const sku = `E2E-${run}`.toUpperCase();
      const form = p.getByRole('form', { name: 'New product' });
      await form.getByLabel('SKU').fill(sku);
      await form.getByLabel('Name').fill(`E2E Teapot ${run}`);
      await form.getByLabel('Description').fill('Made by the end-to-end test.');
      await form.getByLabel('Price').fill('19.90');
      await form.getByLabel('Category').fill('kitchen');
      await form.getByRole('button', { name: 'Create product' }).click();
      await p.waitForURL(new RegExp(`/admin/products/${sku}`));
      await p.getByText('Product created.').waitFor();

      const stock = p.getByRole('form', { name: 'Set stock' });
      await stock.getByLabel('Units on hand').fill('3');
      await stock.getByRole('button', { name: 'Set stock' }).click();
      await p.getByText('Stock updated.').waitFor();
      await expect(p.getByTestId('stock-available').textContent()).resolves.toBe('3');

      const edit = p.getByRole('form', { name: 'Edit product' });
      await edit.getByLabel('Price').fill('24.50');
      await edit.getByRole('button', { name: 'Save changes' }).click();
      await p.getByText('Saved.').waitFor();

      await p.goto(`${BASE}/products/${sku}`);
      await p.getByRole('heading', { name: `E2E Teapot ${run}` }).waitFor();
      await p.getByText('Only 3 left').waitFor();
      await expect(p.locator('.price-large').textContent()).resolves.toBe('€24.50');
    } finally {
      await admin.close();
    }
  });

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });

  it('broke no Content-Security-Policy rule', () => {
    expect(cspViolations).toEqual([]);
  });
});
