import { afterEach, describe, expect, it, vi } from 'vitest';
import { focusMainHeading, pageTitle } from './page';

afterEach(() => {
  document.body.innerHTML = '';
  vi.useRealTimers();
});

describe('page helpers', () => {
  it('names pages after the shop', () => {
    expect(pageTitle('Cart')).toBe('Cart · shopmesh');
    expect(pageTitle(undefined)).toBe('shopmesh');
  });

  it('does not take focus back from a control the user moved to while the page loaded', async () => {
    document.body.innerHTML = '<input id="search" /><main id="main"></main>';
    const main = document.getElementById('main');
    focusMainHeading(main);
    (document.getElementById('search') as HTMLInputElement).focus();
    main!.innerHTML = '<h1>Products</h1>';
    await Promise.resolve(); // MutationObserver callbacks run as microtasks
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(document.activeElement?.id).toBe('search');
  });

  it('gives up waiting for a heading after a while', async () => {
    vi.useFakeTimers();
    document.body.innerHTML = '<main id="main"></main>';
    const main = document.getElementById('main');
    focusMainHeading(main, 1000);
    vi.advanceTimersByTime(1500);
    main!.innerHTML = '<h1>Late</h1>';
    await Promise.resolve();
    expect(document.activeElement).toBe(document.body);
  });
});
