import { describe, expect, it } from 'vitest';
import { createAttemptKeeper, fingerprint } from './idempotency';

function counter() {
  let n = 0;
  return () => `key-${++n}`;
}

describe('checkout attempt keys', () => {
  it('reuses the key while the same data is submitted again', () => {
    const keeper = createAttemptKeeper(counter());
    const data = fingerprint({ card: 'pm_card_visa', city: 'Berlin' });
    expect(keeper.keyFor(data)).toBe('key-1');
    expect(keeper.keyFor(data)).toBe('key-1');
    expect(keeper.current()).toBe('key-1');
  });

  it('starts a new attempt when the data changes', () => {
    const keeper = createAttemptKeeper(counter());
    expect(keeper.keyFor(fingerprint({ card: 'pm_card_chargeDeclined' }))).toBe('key-1');
    expect(keeper.keyFor(fingerprint({ card: 'pm_card_visa' }))).toBe('key-2');
  });

  it('starts a new attempt after an order was placed', () => {
    const keeper = createAttemptKeeper(counter());
    const data = fingerprint({ card: 'pm_card_visa' });
    keeper.keyFor(data);
    keeper.finish();
    expect(keeper.current()).toBeNull();
    expect(keeper.keyFor(data)).toBe('key-2');
  });

  it('uses crypto.randomUUID by default', () => {
    const key = createAttemptKeeper().keyFor('x');
    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('fingerprints ignore key order and surrounding spaces', () => {
    expect(fingerprint({ a: ' x ', b: { d: 1, c: 2 } })).toBe(fingerprint({ b: { c: 2, d: 1 }, a: 'x' }));
    expect(fingerprint({ a: 'x' })).not.toBe(fingerprint({ a: 'y' }));
  });
});
