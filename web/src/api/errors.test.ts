import { describe, expect, it } from 'vitest';
import { errorMessage, fieldErrors, fromGraphQLErrors, messageFor } from './errors';
import { executeGraphQL } from './graphql';
import { gqlError, json } from '../test/utils';

describe('error mapping', () => {
  it('turns each BFF code into words a shopper understands', () => {
    expect(messageFor('UNAUTHENTICATED')).toBe('Please sign in to continue.');
    expect(messageFor('FORBIDDEN')).toBe('You do not have permission to do that.');
    expect(messageFor('RATE_LIMITED')).toMatch(/Too many requests/);
    expect(messageFor('UNAVAILABLE')).toMatch(/temporarily unavailable/);
    expect(messageFor('CART_EMPTY')).toBe('Your cart is empty.');
    expect(messageFor('NOT_FOUND', undefined, 'order 42 not found')).toMatch(/could not find/);
  });

  it('adds the service detail for stock refusals and refines by reason', () => {
    expect(messageFor('OUT_OF_STOCK', 'INSUFFICIENT_STOCK', 'only 2 left')).toBe(
      'Sorry, there is not enough stock for that. (only 2 left)',
    );
    expect(messageFor('ALREADY_EXISTS', 'EMAIL_TAKEN')).toMatch(/account with this email/);
    expect(messageFor('CONFLICT', 'VERSION_MISMATCH')).toMatch(/changed this product/);
  });

  it('explains the order limits and throttled sign-ins, with the wait the shop asked for', () => {
    expect(messageFor('TOO_MANY_OPEN_ORDERS')).toMatch(/unpaid orders open/);
    expect(messageFor('LINE_QUANTITY_LIMIT')).toMatch(/lower the quantity/);
    const throttled = fromGraphQLErrors([
      { message: 'too many failed sign-in attempts', extensions: { code: 'RATE_LIMITED', reason: 'LOGIN_THROTTLED', retryAfter: 30 } },
    ]);
    expect(throttled).toMatchObject({ code: 'RATE_LIMITED', reason: 'LOGIN_THROTTLED', retryAfter: 30 });
    expect(throttled.message).toBe('Too many failed sign-in attempts. Please wait before trying again (about 30 seconds).');
    const busy = fromGraphQLErrors([
      { message: 'busy', extensions: { code: 'UNAVAILABLE', reason: 'PASSWORD_HASHING_BUSY', retryAfter: 1 } },
    ]);
    expect(busy.message).toMatch(/try again in a moment \(about 1 second\)\./);
    expect(busy.retryAfter).toBe(1);
  });

  it('falls back to the server message for a code it does not know', () => {
    expect(messageFor('NEW_REASON', undefined, 'the warehouse is on fire')).toBe('the warehouse is on fire');
    expect(messageFor('NEW_REASON')).toBe('Something went wrong (NEW_REASON).');
  });

  it('keeps BAD_USER_INPUT fields and keys them for forms', () => {
    const error = fromGraphQLErrors(
      [
        {
          message: 'invalid input: input.shippingAddress.postalCode: must be letters; input.paymentMethod: bad',
          extensions: {
            code: 'BAD_USER_INPUT',
            field: 'input.shippingAddress.postalCode',
            fields: [
              { field: 'input.shippingAddress.postalCode', message: "must be letters, digits, spaces or '-'" },
              { field: 'input.paymentMethod', message: 'must be a payment method id such as pm_card_visa' },
            ],
          },
        },
      ],
      200,
    );
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.field).toBe('input.shippingAddress.postalCode');
    expect(error.message).toBe('Please check the highlighted fields.');
    expect(fieldErrors(error, 'input.shippingAddress.')).toMatchObject({
      postalCode: "must be letters, digits, spaces or '-'",
    });
    expect(fieldErrors(error, 'input.')).toMatchObject({
      paymentMethod: 'must be a payment method id such as pm_card_visa',
      shippingAddress: "must be letters, digits, spaces or '-'",
    });
  });

  it('uses `field` alone when there is no `fields` list', () => {
    const error = fromGraphQLErrors([{ message: 'first: must be between 1 and 100', extensions: { code: 'BAD_USER_INPUT', field: 'first' } }]);
    expect(fieldErrors(error)).toEqual({ first: 'first: must be between 1 and 100' });
  });

  it('treats an uncoded error as INTERNAL and anything unknown safely', () => {
    expect(fromGraphQLErrors([{ message: 'boom' }]).code).toBe('INTERNAL');
    expect(errorMessage(undefined)).toMatch(/went wrong/);
    expect(errorMessage(new Error('plain'))).toBe('plain');
  });
});

describe('executeGraphQL', () => {
  it('posts the operation with cookies and the bearer token', async () => {
    let seen: RequestInit | undefined;
    const fetchFn = async (_url: RequestInfo | URL, init?: RequestInit) => {
      seen = init;
      return json({ data: { cart: { id: 'c' } } });
    };
    const result = await executeGraphQL({ document: 'query Cart { cart { id } }' }, { token: 'tok', fetchFn });
    expect(result).toEqual({ data: { cart: { id: 'c' } } });
    expect(seen?.credentials).toBe('include');
    expect((seen?.headers as Record<string, string>).Authorization).toBe('Bearer tok');
    expect(JSON.parse(String(seen?.body))).toMatchObject({ operationName: 'Cart', variables: {} });
  });

  it('leaves the token off anonymous operations', async () => {
    let headers: Record<string, string> = {};
    const fetchFn = async (_url: RequestInfo | URL, init?: RequestInit) => {
      headers = init?.headers as Record<string, string>;
      return json({ data: { login: null } });
    };
    await executeGraphQL({ document: 'mutation Login { x }', anonymous: true }, { token: 'tok', fetchFn });
    expect(headers.Authorization).toBeUndefined();
  });

  it('reports a refused request with its code, status and Retry-After', async () => {
    const fetchFn = async () => json(gqlError('RATE_LIMITED', 'too many requests; slow down'), 429, { 'Retry-After': '7' });
    const result = await executeGraphQL({ document: 'query Q { a }' }, { fetchFn });
    expect(result).toEqual({
      error: expect.objectContaining({ code: 'RATE_LIMITED', status: 429, retryAfter: 7, message: expect.stringMatching(/Too many/) }),
    });
  });

  it('maps transport failures to codes too', async () => {
    const down = await executeGraphQL({ document: 'query Q { a }' }, {
      fetchFn: async () => {
        throw new TypeError('Failed to fetch');
      },
    });
    expect(down).toEqual({ error: expect.objectContaining({ code: 'NETWORK_ERROR' }) });

    const proxy = await executeGraphQL({ document: 'query Q { a }' }, { fetchFn: async () => new Response('<html>bad gateway</html>', { status: 502 }) });
    expect(proxy).toEqual({ error: expect.objectContaining({ code: 'UNAVAILABLE', status: 502 }) });
  });
});
