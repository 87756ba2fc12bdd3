// The `orderUpdated` subscription over graphql-ws (`/graphql/ws`). Browsers cannot set
// headers on a WebSocket, so the access token goes in the `connection_init` payload as
// {"Authorization": "Bearer …"}. The first message is the order as it is now; the server
// ends the stream once the order is CONFIRMED or CANCELLED.
import type { Client } from 'graphql-ws';
import { OrderUpdatedDocument, type OrderUpdatedSubscription } from '../gql/graphql';
import type { Order } from './models';

export interface OrderFeedHandlers {
  next(order: Order): void;
  /** The stream failed (after graphql-ws' own reconnect attempts). */
  error(reason: unknown): void;
  /** The server ended the stream (the order reached a final state). */
  complete(): void;
}

export type OpenOrderFeed = (
  orderId: string,
  token: () => string | null,
  handlers: OrderFeedHandlers,
) => () => void;

export function websocketUrl(location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
}

export const openOrderFeed: OpenOrderFeed = (orderId, token, handlers) => {
  let client: Client | null = null;
  let unsubscribe: (() => void) | null = null;
  let closed = false;
  // graphql-ws loads with the first order page, not with the storefront's first page.
  import('graphql-ws')
    .then(({ createClient }) => {
      if (closed) return;
      client = createClient({
        url: websocketUrl(),
        lazy: true,
        retryAttempts: 3,
        connectionParams: () => {
          const current = token();
          return current ? { Authorization: `Bearer ${current}` } : {};
        },
      });
      unsubscribe = client.subscribe<OrderUpdatedSubscription>(
        { query: OrderUpdatedDocument.toString(), variables: { orderId } },
        {
          next: (message) => {
            if (message.errors?.length) {
              handlers.error(message.errors);
              return;
            }
            const order = message.data?.orderUpdated;
            if (order) handlers.next(order);
          },
          error: (reason) => handlers.error(reason),
          complete: () => handlers.complete(),
        },
      );
    })
    .catch((reason: unknown) => {
      // The chunk did not load (offline, a new deploy): the caller falls back to polling.
      if (!closed) handlers.error(reason);
    });
  return () => {
    closed = true;
    unsubscribe?.();
    void client?.dispose();
  };
};
