// End to end against the real stack: the BFF serving web/dist at SHOP_WEB_URL (default
// http://127.0.0.1:8080) with every service behind it and the demo catalog seeded
// (`shop-seed`). Drives Debian's Chromium through playwright-core, the way a shopper would,
// and asserts what the UI shows: a guest searches and fills a cart, registers (the cart
// comes along), pays with a test card and watches the order turn CONFIRMED live over the
// `orderUpdated` subscription; a declined card ends CANCELLED with the reason in words;
// 3-D Secure sends the shopper to the (fake) card issuer and back, approved and refused; a
// keyboard-only checkout; no page wider than a phone; an admin creates a product and stocks
// it, and the cart never takes more than exists. axe-core audits every page visited (no
// serious or critical violation). Screenshots for the README land in e2e-artifacts/.
//
// Run: scripts/web.sh e2e   (or: SHOP_WEB_URL=… npx vitest run --config vitest.e2e.config.ts)
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type * as Axe from 'axe-core';

const BASE = (process.env.SHOP_WEB_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = new URL('../e2e-artifacts/', import.meta.url).pathname;
const ADMIN_EMAIL = process.env.SHOP_BOOTSTRAP_ADMIN_EMAIL ?? 'admin@shopmesh.dev';
const ADMIN_PASSWORD = process.env.SHOP_BOOTSTRAP_ADMIN_PASSWORD ?? 'shopmesh-admin';
/** How long the checkout saga may take to reach a final state. */
const SAGA_MS = 45_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** axe-core, injected into each page audited (through DevTools, so the app's CSP allows it). */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const run = Date.now().toString(36);
const shopper = { name: 'E2E Shopper', email: `e2e-${run}@example.com`, password: 'correct-horse-battery' };

let browser: Browser;
let context: BrowserContext;
let page: Page;
const audits: string[] = [];
const pageErrors: string[] = [];
const cspViolations: string[] = [];
const sockets: string[] = [];

/**
 * Runs axe-core on the page as it is now and fails on any serious or critical violation
 * (each named with the first elements it found).
 */
async function audit(p: Page, label: string): Promise<void> {
  await p.waitForLoadState('domcontentloaded');
  if (!(await p.evaluate(() => 'axe' in window))) await p.evaluate(`${AXE_SOURCE}\n;true`);
  const found = await p.evaluate(async () => {
    const axe = (window as unknown as { axe: typeof Axe }).axe;
    const results = await axe.run(document, { resultTypes: ['violations'] });
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} [${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}]`);
  });
  audits.push(label);
  expect(found, `axe on ${label} (${p.url()})`).toEqual([]);
}

/** The page is no wider than the viewport (no sideways scrolling on a phone); a failure
 * names the elements that stick out. */
async function expectNoOverflow(p: Page, label: string): Promise<void> {
  const { scrollWidth, viewport, offenders } = await p.evaluate(() => {
    const width = window.innerWidth;
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const box = el.getBoundingClientRect();
      if (box.right > width + 0.5 && out.length < 8) {
        out.push(`${el.tagName.toLowerCase()}${el.className ? `.${String(el.className).split(' ').join('.')}` : ''} right=${Math.round(box.right)}`);
      }
    }
    return { scrollWidth: document.documentElement.scrollWidth, viewport: width, offenders: out };
  });
  expect(scrollWidth, `${label} is ${scrollWidth}px wide in a ${viewport}px window: ${offenders.join(', ')}`).toBeLessThanOrEqual(viewport);
}

/** What has keyboard focus, as "tag:accessible text" ("button:Add Mug to cart"). */
async function focused(p: Page): Promise<string> {
  return p.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return 'body';
    const labels = (el as HTMLInputElement).labels;
    const text = el.getAttribute('aria-label') ?? labels?.[0]?.textContent ?? el.textContent ?? '';
    const disabled = el.getAttribute('aria-disabled') === 'true' || (el as HTMLButtonElement).disabled;
    return `${el.tagName.toLowerCase()}${disabled ? '[disabled]' : ''}:${text.trim().replace(/\s+/g, ' ')}`;
  });
}

/** Presses Tab until focus is on what `want` describes (see `focused`). */
async function tabTo(p: Page, want: RegExp, max = 60): Promise<void> {
  for (let i = 0; i < max; i += 1) {
    await p.keyboard.press('Tab');
    if (want.test(await focused(p))) return;
  }
  throw new Error(`Tab never reached ${want}; focus is on ${await focused(p)}`);
}

async function screenshot(p: Page, name: string): Promise<void> {
  // Let the images on screen decode first (lazy ones below the fold never load: skip them).
  await p.evaluate(() => {
    const onScreen = Array.from(document.images).filter((img) => {
      const box = img.getBoundingClientRect();
      return box.bottom > 0 && box.top < window.innerHeight && !img.complete;
    });
    const decoded = Promise.all(onScreen.map((img) => img.decode().catch(() => null)));
    return Promise.race([decoded, new Promise((resolve) => setTimeout(resolve, 3000))]);
  });
  await p.screenshot({ path: `${ARTIFACTS}${name}.png`, animations: 'disabled', caret: 'hide' });
}

/** WCAG contrast ratio of an `rgb(r, g, b)` colour against white. */
function contrastWithWhite(color: string): number {
  const [r = 0, g = 0, b = 0] = (color.match(/\d+(\.\d+)?/g) ?? []).map(Number);
  const channel = (c: number) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  return 1.05 / (luminance + 0.05);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

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
  const button = grid.getByRole('button', { name: /^Add .* to cart$/ }).and(page.locator(':not([aria-disabled])')).first();
  const label = (await button.textContent()) ?? '';
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
    context = await browser.newContext({ locale: 'en-US', viewport: DESKTOP });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    // Chromium reports what the Content-Security-Policy blocked as console errors.
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text()) && page.url().startsWith(BASE)) {
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
    const script = page.waitForResponse((r) => /\/assets\/index-[\w-]+\.js$/.test(r.url()));
    const response = await page.goto(BASE);
    // The hashed bundle comes precompressed (scripts/bundle.mjs wrote .br/.gz) and immutable.
    const bundle = await script;
    expect(bundle.headers()['content-encoding']).toMatch(/^(br|gzip)$/);
    expect(bundle.headers()['cache-control']).toContain('immutable');
    // The app runs under the BFF's strict CSP (no inline script, same-origin only).
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    expect(response?.headers()['x-content-type-options']).toBe('nosniff');
    await expect(page.title()).resolves.toBe('Products · shopmesh');
    const cards = page.getByRole('list', { name: 'Products' }).getByRole('listitem');
    await cards.first().waitFor();
    expect(await cards.count()).toBe(24);
    // The seed's pictures load (no initials stand-ins).
    const firstImage = cards.first().locator('img.product-image');
    await expect(firstImage.evaluate((img: HTMLImageElement) => img.decode().then(() => img.naturalWidth))).resolves.toBeGreaterThan(0);
    await screenshot(page, 'catalog-desktop');
    await audit(page, 'catalog');
    // Categories come with their product counts.
    await expect(page.getByLabel('Category').locator('option').nth(1).textContent()).resolves.toMatch(/^[A-Z][a-z-]+ \(\d+\)$/);
    // Prices are localised from amountMinor + currency.
    await expect(cards.first().locator('.money').textContent()).resolves.toMatch(/^(€|\$|£)\d[\d,]*\.\d{2}$/);
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByRole('list', { name: 'Products' }).getByRole('listitem').nth(24).waitFor();
    expect(await cards.count()).toBe(48);
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

    // The server matches inside words and forgives a typo; the app shows what it found.
    await page.goto(`${BASE}/?q=lamp`);
    await page.getByRole('list', { name: 'Products' }).getByRole('link', { name: /Headlamp/ }).first().waitFor();
    await page.goto(`${BASE}/?q=ketle`);
    await page.getByRole('list', { name: 'Products' }).getByRole('link', { name: /Kettle/ }).first().waitFor();
    await page.goto(`${BASE}/?q=kettle`);
    await page.getByText(/^Showing \d+ products? for “kettle”$/).waitFor();

    await page.getByLabel('Category').selectOption('outdoor');
    await page.waitForURL(/category=outdoor/);
    await expect(page.getByText(/No products match “kettle” in Outdoor/).waitFor()).resolves.toBeUndefined();
    await audit(page, 'catalog, empty search');

    const first = await addFirstAvailable('kettle');
    expect(first.toLowerCase()).toContain('kettle');

    await page.getByRole('link', { name: first, exact: true }).first().click();
    await page.getByRole('heading', { level: 1, name: first }).waitFor();
    await expect(page.title()).resolves.toBe(`${first} · shopmesh`);
    // After navigation focus is on the page's heading, not lost on the body.
    await expect.poll(() => focused(page)).toBe(`h1:${first}`);
    await screenshot(page, 'product-desktop');
    await audit(page, 'product');

    await page.getByRole('link', { name: /^Cart, / }).click();
    await page.getByRole('heading', { name: 'Your cart' }).waitFor();
    await page.getByRole('button', { name: `Increase quantity of ${first}` }).click();
    await expectCartCount(2);
    await page.getByRole('button', { name: `Decrease quantity of ${first}` }).click();
    await expectCartCount(1);
    await expect(page.getByTestId('cart-subtotal').textContent()).resolves.toMatch(/\d\.\d{2}/);
    await expect(page.title()).resolves.toBe('Cart · shopmesh');
    await audit(page, 'cart');
  });

  it('registers at checkout and keeps the guest cart', async () => {
    await page.getByRole('link', { name: 'Check out' }).click();
    await page.getByText('Sign in or create an account to check out.').waitFor();
    await audit(page, 'checkout, signed out');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    // Client-side errors are summed up at the top, with links to the fields.
    await page.getByRole('button', { name: 'Create account' }).click();
    const summary = page.getByRole('alert').filter({ hasText: 'There are 3 problems' });
    await summary.waitFor();
    await summary.getByRole('link', { name: /^Email:/ }).click();
    await expect(focused(page)).resolves.toBe('input:Email');
    await audit(page, 'register, with errors');
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
    await audit(page, 'checkout');
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
    await expect(page.title()).resolves.toMatch(/^Order [0-9A-F]{8} \(Confirmed\) · shopmesh$/);
    await screenshot(page, 'order-desktop');
    await audit(page, 'order, confirmed');
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
    await audit(page, 'order, cancelled');
    // Retrying starts from the address just used, country included.
    await page.getByRole('link', { name: 'Try another payment method' }).click();
    await page.getByRole('heading', { name: 'Checkout' }).waitFor();
    await expect(page.getByLabel('Address line 1').inputValue()).resolves.toBe('Invalidenstraße 117');
    await expect(page.getByLabel('City').inputValue()).resolves.toBe('Berlin');
    await expect(page.getByLabel('Country').inputValue()).resolves.toBe('DE');
  });

  it('lists exactly the two orders in the history', async () => {
    await page.getByRole('link', { name: 'Orders', exact: true }).click();
    const rows = page.getByRole('list', { name: 'Orders' }).getByRole('listitem');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(2);
    await expect(rows.nth(0).textContent()).resolves.toContain('Cancelled');
    await expect(rows.nth(1).textContent()).resolves.toContain('Confirmed');
    await audit(page, 'orders');
  });

  it('completes 3-D Secure at the card issuer and comes back to a confirmed order', async () => {
    // The declined order's item is still in the cart.
    await page.getByRole('link', { name: /^Cart, / }).click();
    await page.getByRole('link', { name: 'Check out' }).click();
    await fillCheckout(/requires 3-D Secure/);
    await page.getByRole('button', { name: 'Place order' }).click();
    // The app sends the browser to the issuer's page by itself once the order asks for it.
    await page.getByRole('button', { name: 'Complete authentication' }).waitFor({ timeout: SAGA_MS });
    expect(page.url()).not.toContain(BASE);

    // The shopper wanders off instead: the same items cannot be ordered again meanwhile.
    await page.goto(`${BASE}/checkout`);
    await page.getByRole('heading', { name: 'Checkout' }).waitFor();
    await page.getByLabel(/test card: succeeds/).check();
    await page.getByRole('button', { name: 'Place order' }).click();
    const refusal = page.getByRole('alert').filter({ hasText: 'waiting for its payment' });
    await refusal.waitFor();
    await audit(page, 'checkout, items awaiting payment');
    await refusal.getByRole('link', { name: 'See your orders' }).click();
    const awaiting = page.getByRole('list', { name: 'Orders' }).getByRole('listitem').filter({ hasText: 'Awaiting payment' });
    await awaiting.getByRole('link').click();

    // The order offers to finish the payment; the issuer sends the shopper back.
    await page.getByRole('link', { name: 'Complete payment' }).waitFor();
    await screenshot(page, 'order-awaiting-payment');
    await audit(page, 'order, awaiting payment');
    await page.getByRole('link', { name: 'Complete payment' }).click();
    await page.getByRole('button', { name: 'Complete authentication' }).click();
    await page.waitForURL(new RegExp(`^${escapeRegExp(BASE)}/orders/[0-9a-f-]{36}\\?.*redirect_status=succeeded`));
    const status = page.getByTestId('order-status');
    await status.getByText('Confirmed', { exact: true }).waitFor({ timeout: SAGA_MS });
    await expectCartCount(0);
    await audit(page, 'order, back from 3-D Secure');
  });

  it('fails 3-D Secure and shows the order cancelled with the reason', async () => {
    await addFirstAvailable('lamp');
    await page.getByRole('link', { name: /^Cart, / }).click();
    await page.getByRole('link', { name: 'Check out' }).click();
    await fillCheckout(/requires 3-D Secure/);
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.getByRole('button', { name: 'Fail authentication' }).waitFor({ timeout: SAGA_MS });
    await page.getByRole('button', { name: 'Fail authentication' }).click();
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}\?.*redirect_status=failed/);
    const status = page.getByTestId('order-status');
    await status.getByText('Cancelled', { exact: true }).waitFor({ timeout: SAGA_MS });
    await expect(page.getByTestId('cancel-reason').textContent()).resolves.toMatch(/You have not been charged\.$/);
    await expect(page.getByRole('link', { name: 'Complete payment' }).count()).resolves.toBe(0);
    await audit(page, 'order, 3-D Secure failed');
  });

  it('checks out with the keyboard alone, from the catalog to a placed order', async () => {
    await page.goto(`${BASE}/?q=mug`);
    const grid = page.getByRole('list', { name: 'Products' });
    await page.getByText(/^Showing \d+ products? for “mug”$/).waitFor();
    // Which product to take (read, not clicked): the first that can still be bought.
    const card = grid.getByRole('listitem').filter({ has: page.locator('button:not([aria-disabled])') }).first();
    const name = (await card.getByRole('heading').textContent())?.trim() ?? '';
    await tabTo(page, new RegExp(`^a:${escapeRegExp(name)}$`));
    // The focus ring is seen: at least 2 px and 3:1 against the white card.
    const ring = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement as Element);
      return { width: parseFloat(style.outlineWidth), style: style.outlineStyle, color: style.outlineColor };
    });
    expect(ring.style).not.toBe('none');
    expect(ring.width).toBeGreaterThanOrEqual(2);
    expect(contrastWithWhite(ring.color)).toBeGreaterThanOrEqual(3);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name }).waitFor();
    await expect.poll(() => focused(page)).toBe(`h1:${name}`);
    const before = await cartCount();
    await tabTo(page, /^button:Add to cart$/);
    await page.keyboard.press('Space');
    await expectCartCount(before + 1);
    await page.getByText('Added to cart').waitFor();
    // Focus stayed on the button through "Adding…".
    await expect(focused(page)).resolves.toBe('button:Add to cart');
    await tabTo(page, /^a:your cart$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Your cart' }).waitFor();
    await tabTo(page, /^a:Check out$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Checkout' }).waitFor();
    await expect.poll(() => focused(page)).toBe('h1:Checkout');
    // The address is the one kept from the last checkout; the first card (succeeds) is chosen.
    await tabTo(page, /^button:Place order$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    await page.getByTestId('order-status').getByText('Confirmed', { exact: true }).waitFor({ timeout: SAGA_MS });
  });

  it('fits a phone: no page wider than 390 px, and the order page opens at the top', async () => {
    await page.setViewportSize(PHONE);
    try {
      await page.goto(BASE);
      await page.getByRole('list', { name: 'Products' }).getByRole('listitem').first().waitFor();
      await expectNoOverflow(page, 'catalog');
      await screenshot(page, 'catalog-phone');
      await audit(page, 'catalog, phone');

      const name = await addFirstAvailable('kettle');
      await page.getByRole('link', { name, exact: true }).first().click();
      await page.getByRole('heading', { level: 1, name }).waitFor();
      await expectNoOverflow(page, 'product');
      await audit(page, 'product, phone');

      await page.getByRole('link', { name: /^Cart, / }).click();
      await page.getByRole('heading', { name: 'Your cart' }).waitFor();
      await expectNoOverflow(page, 'cart');
      await audit(page, 'cart, phone');
      await screenshot(page, 'cart-phone');

      await page.getByRole('link', { name: 'Check out' }).click();
      await page.getByRole('heading', { name: 'Checkout' }).waitFor();
      await expectNoOverflow(page, 'checkout');
      await audit(page, 'checkout, phone');
      await screenshot(page, 'checkout-phone');
      await page.getByLabel(/test card: succeeds/).check();
      await page.getByRole('button', { name: 'Place order' }).scrollIntoViewIfNeeded();
      expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Place order' }).click();
      await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
      await page.getByTestId('order-status').waitFor();
      // The status is the first thing seen, not scrolled past.
      await expect(page.evaluate(() => window.scrollY)).resolves.toBe(0);
      await page.getByTestId('order-status').getByText('Confirmed', { exact: true }).waitFor({ timeout: SAGA_MS });
      await expectNoOverflow(page, 'order');
      await audit(page, 'order, phone');
      await screenshot(page, 'order-phone');

      await page.getByRole('link', { name: 'Orders', exact: true }).click();
      await page.getByRole('list', { name: 'Orders' }).getByRole('listitem').first().waitFor();
      await expectNoOverflow(page, 'orders');
    } finally {
      await page.setViewportSize(DESKTOP);
    }
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
    await audit(page, 'sign in, refused');
  });

  it('lets the admin create a product and stock it', async () => {
    const admin = await browser.newContext({ locale: 'en-US', viewport: DESKTOP });
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
      await p.getByRole('cell').first().waitFor();
      await audit(p, 'admin');
      await p.setViewportSize(PHONE);
      await expectNoOverflow(p, 'admin');
      await p.setViewportSize(DESKTOP);

      const sku = `E2E-${run}`.toUpperCase();
      const form = p.getByRole('form', { name: 'New product' });
      await form.getByLabel('SKU').fill(sku);
      await form.getByLabel('Name').fill(`E2E Teapot ${run}`);
      await form.getByLabel('Description').fill('Made by the end-to-end test.');
      await form.getByLabel('Price').fill('19.90');
      await form.getByLabel('Category').fill('kitchen');
      await form.getByLabel('Image URL').fill('/images/kitchen/not-there.svg');
      await form.getByText('This image could not be loaded: check the address.').waitFor();
      await form.getByLabel('Image URL').fill('/favicon.svg');
      await form.getByRole('img', { name: 'Preview of the product image' }).waitFor();
      await form.getByText('Preview', { exact: true }).waitFor();
      await form.getByRole('button', { name: 'Create product' }).click();
      await p.waitForURL(new RegExp(`/admin/products/${sku}`));
      await p.getByText('Product created.').waitFor();
      await audit(p, 'admin product');
      await p.setViewportSize(PHONE);
      await expectNoOverflow(p, 'admin product');
      await screenshot(p, 'admin-product-phone');
      await p.setViewportSize(DESKTOP);

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

      // The cart never takes more than exists: 3 of 3, then one more is refused here.
      await p.getByLabel('Quantity').fill('3');
      await p.getByRole('button', { name: 'Add to cart' }).click();
      await p.getByText('Added 3 to cart').waitFor();
      await p.getByLabel('Quantity').fill('1');
      await p.getByRole('button', { name: 'Add to cart' }).click();
      await p.getByRole('alert').getByText('You already have all 3 available in your cart.').waitFor();
      await expect(p.getByText('Added 3 to cart').count()).resolves.toBe(0);
      await expect(p.getByTestId('in-cart').textContent()).resolves.toBe('3 in your cart');
    } finally {
      await admin.close();
    }
  });

  it('audited every kind of page with axe-core', () => {
    expect(audits.length).toBeGreaterThanOrEqual(20);
  });

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });

  it('broke no Content-Security-Policy rule', () => {
    expect(cspViolations).toEqual([]);
  });
});
