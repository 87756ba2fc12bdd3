// Leaving the app for another page (3-D Secure at the card issuer's): a full-page
// navigation. Its own module so tests can observe it (jsdom cannot navigate).

/** Only http(s) addresses are followed: a server-provided URL never runs script here. */
export function isWebUrl(url: string, base: string = window.location.origin): boolean {
  try {
    const parsed = new URL(url, base);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:';
  } catch {
    return false;
  }
}

export function leaveTo(url: string): void {
  window.location.assign(url);
}
