// One checkout attempt, one idempotency key. The Order service answers a repeated key with
// the order it already placed, so a double click, a retry after a network error or a
// resubmit of the same form never orders twice. A key is reused while the submitted data
// stays the same; changing the data (another card, another address, another cart) starts a
// new attempt, because the service refuses a known key with different content
// (IDEMPOTENCY_KEY_REUSED). After an order is placed the attempt is over.

export interface AttemptKeeper {
  /** The key for submitting `fingerprint`: the current one, or a new one if the data changed. */
  keyFor(fingerprint: string): string;
  /** The attempt ended (an order was placed): the next submit gets a new key. */
  finish(): void;
  /** The key of the attempt in progress, if any. */
  current(): string | null;
}

export function createAttemptKeeper(generate: () => string = () => crypto.randomUUID()): AttemptKeeper {
  let attempt: { fingerprint: string; key: string } | null = null;
  return {
    keyFor(fingerprint) {
      if (!attempt || attempt.fingerprint !== fingerprint) {
        attempt = { fingerprint, key: generate() };
      }
      return attempt.key;
    },
    finish() {
      attempt = null;
    },
    current() {
      return attempt?.key ?? null;
    },
  };
}

/** A stable text for "the same submit": key order and whitespace do not matter. */
export function fingerprint(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string') return v.trim();
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
      );
    }
    return v;
  });
}
