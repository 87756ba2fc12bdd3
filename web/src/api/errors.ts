// Every failure the app can meet, as one shape: the BFF's `extensions.code` (clients branch
// on codes, never on messages, see bff/src/errors.rs), plus the transport's own failures.
// `message` is always something a shopper can read.

export interface FieldError {
  /** As the BFF names it, e.g. `input.shippingAddress.postalCode`. */
  field: string;
  message: string;
}

export interface ApiError {
  code: string;
  /** What to show the user. */
  message: string;
  /** The server's own message (services phrase user-facing failures for callers). */
  serverMessage?: string;
  /** The first offending field of a BAD_USER_INPUT. */
  field?: string;
  fields: FieldError[];
  /** The service reason behind ALREADY_EXISTS, CONFLICT or a precondition code. */
  reason?: string;
  /** HTTP status of the response, when there was one. */
  status?: number;
  /** Seconds to wait: `extensions.retryAfter` (a throttled sign-in, a busy shop) or the
   * `Retry-After` header. */
  retryAfter?: number;
}

/** Codes of failures that happen before a GraphQL answer exists. */
export const NETWORK_ERROR = 'NETWORK_ERROR';
export const BAD_RESPONSE = 'BAD_RESPONSE';

const MESSAGES: Record<string, string> = {
  UNAUTHENTICATED: 'Please sign in to continue.',
  FORBIDDEN: 'You do not have permission to do that.',
  BAD_USER_INPUT: 'Please check the highlighted fields.',
  NOT_FOUND: 'We could not find that. It may have been removed.',
  OUT_OF_STOCK: 'Sorry, there is not enough stock for that.',
  CART_EMPTY: 'Your cart is empty.',
  PRODUCT_UNAVAILABLE: 'A product in your cart is no longer available. Remove it and try again.',
  PRODUCT_ARCHIVED: 'That product is no longer sold.',
  MIXED_CURRENCIES: 'Your cart mixes prices in different currencies, which cannot be paid together.',
  CURRENCY_MISMATCH: 'That price is in a different currency from the rest of your cart.',
  ALREADY_EXISTS: 'That already exists.',
  CONFLICT: 'Someone else changed this at the same time. Reload and try again.',
  RATE_LIMITED: 'Too many requests. Please wait a moment and try again.',
  TIMEOUT: 'The shop took too long to answer. Please try again.',
  UNAVAILABLE: 'The shop is temporarily unavailable. Please try again shortly.',
  INTERNAL: 'Something went wrong on our side. Please try again.',
  QUERY_TOO_DEEP: 'The app sent a request the shop refused (too deep).',
  QUERY_TOO_COMPLEX: 'The app sent a request the shop refused (too complex).',
  PAYLOAD_TOO_LARGE: 'That is too much data to send at once.',
  GRAPHQL_VALIDATION_FAILED: 'The app and the shop disagree about this request. Please reload the page.',
  BAD_REQUEST: 'The shop could not read the request. Please reload the page.',
  TOO_MANY_OPEN_ORDERS:
    'You already have the most unpaid orders open at once. Pay for or cancel one of them before placing another.',
  LINE_QUANTITY_LIMIT: 'That is more of one item than a single order can hold. Please lower the quantity.',
  ITEMS_AWAITING_PAYMENT:
    'Some items in your cart belong to an order that is still waiting for payment. Complete or cancel that order first.',
  TOO_MANY_SUBSCRIPTIONS: 'Too many live order updates are open. Close some other tabs and reload.',
  [NETWORK_ERROR]: 'Cannot reach the shop. Check your connection and try again.',
  [BAD_RESPONSE]: 'The shop sent an answer we could not read. Please try again.',
};

/** ALREADY_EXISTS and CONFLICT are refined by the service's reason. */
const REASON_MESSAGES: Record<string, string> = {
  EMAIL_TAKEN: 'An account with this email already exists. Sign in instead?',
  SKU_TAKEN: 'A product with this SKU already exists.',
  IDEMPOTENCY_KEY_REUSED:
    'This checkout was already submitted with different details. Please submit again.',
  VERSION_MISMATCH: 'Someone else changed this product in the meantime. Reload it and try again.',
  CONCURRENT_UPDATE: 'Someone else changed this at the same time. Please try again.',
  LOGIN_THROTTLED: 'Too many failed sign-in attempts. Please wait before trying again.',
  PASSWORD_HASHING_BUSY: 'Many people are signing in right now. Please try again in a moment.',
};

/** Codes where the server's message carries the useful detail ("only 2 left"). */
const SHOW_SERVER_DETAIL = new Set(['OUT_OF_STOCK']);

function seconds(n: number): string {
  return n === 1 ? '1 second' : `${n} seconds`;
}

/** The user-facing text for a code (and reason, and how long to wait when the shop said). */
export function messageFor(code: string, reason?: string, serverMessage?: string, retryAfter?: number): string {
  const byReason = reason ? REASON_MESSAGES[reason] : undefined;
  if (byReason && retryAfter) return `${byReason.replace(/\.$/, '')} (about ${seconds(retryAfter)}).`;
  if (byReason) return byReason;
  const base = MESSAGES[code];
  if (base && serverMessage && SHOW_SERVER_DETAIL.has(code)) {
    return `${base} (${serverMessage})`;
  }
  if (base) return base;
  // A service reason this app does not know yet: the server message is phrased for callers.
  if (serverMessage) return serverMessage;
  return `Something went wrong (${code}).`;
}

interface RawGraphQLError {
  message?: unknown;
  extensions?: Record<string, unknown> | null;
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function asFieldErrors(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) => {
    if (item && typeof item === 'object') {
      const record = item as Record<string, unknown>;
      const field = asString(record.field);
      const message = asString(record.message);
      if (field && message) return [{ field, message }];
    }
    return [];
  });
}

/** The first GraphQL error of a response (with field errors of all of them) as an ApiError. */
export function fromGraphQLErrors(errors: readonly RawGraphQLError[], status?: number): ApiError {
  const first = errors[0] ?? {};
  const extensions = first.extensions ?? {};
  const code = asString(extensions.code) ?? 'INTERNAL';
  const reason = asString(extensions.reason);
  const serverMessage = asString(first.message);
  const retryAfter = typeof extensions.retryAfter === 'number' && extensions.retryAfter > 0 ? Math.ceil(extensions.retryAfter) : undefined;
  const fields = errors.flatMap((error) => {
    const ext = error.extensions ?? {};
    const list = asFieldErrors(ext.fields);
    const single = asString(ext.field);
    if (list.length === 0 && single) {
      return [{ field: single, message: asString(error.message) ?? 'is invalid' }];
    }
    return list;
  });
  const error: ApiError = {
    code,
    message: messageFor(code, reason, serverMessage, retryAfter),
    fields,
  };
  if (retryAfter !== undefined) error.retryAfter = retryAfter;
  if (serverMessage !== undefined) error.serverMessage = serverMessage;
  const field = asString(extensions.field) ?? fields[0]?.field;
  if (field !== undefined) error.field = field;
  if (reason !== undefined) error.reason = reason;
  if (status !== undefined) error.status = status;
  return error;
}

export function transportError(code: string, status?: number, detail?: string): ApiError {
  const error: ApiError = { code, message: messageFor(code), fields: [] };
  if (status !== undefined) error.status = status;
  if (detail !== undefined) error.serverMessage = detail;
  return error;
}

export function isApiError(value: unknown): value is ApiError {
  return (
    !!value &&
    typeof value === 'object' &&
    typeof (value as ApiError).code === 'string' &&
    typeof (value as ApiError).message === 'string' &&
    Array.isArray((value as ApiError).fields)
  );
}

/**
 * Field errors keyed for a form: `prefix` is stripped (`input.shippingAddress.` leaves
 * `postalCode`), and a nested path also counts for its first segment (`price.currency`
 * marks `price`), so a form can show it next to the input it came from.
 */
export function fieldErrors(error: unknown, prefix = ''): Record<string, string> {
  if (!isApiError(error)) return {};
  const out: Record<string, string> = {};
  for (const { field, message } of error.fields) {
    let key = field;
    if (prefix) {
      if (key.startsWith(prefix)) key = key.slice(prefix.length);
      else if (`${key}.` === prefix) key = '';
    }
    if (!key) key = '_form';
    out[key] ??= message;
    const head = key.split('.')[0];
    if (head && head !== key) out[head] ??= message;
  }
  return out;
}

/** Best text for anything RTK Query hands a component as `error`. */
export function errorMessage(error: unknown): string {
  if (isApiError(error)) return error.message;
  if (error instanceof Error) return error.message;
  return messageFor('INTERNAL');
}
