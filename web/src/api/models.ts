// The app's names for what the BFF sends, all derived from the generated types (src/gql/,
// from bff/schema.graphql and src/api/operations.graphql): never written by hand, so a
// schema change that breaks the app fails the typecheck. The documents themselves are the
// generated `…Document` constants in src/gql/graphql.ts (typed: result and variables).
import type {
  CartPartsFragment,
  CategoriesQuery,
  MoneyPartsFragment,
  OrderPartsFragment,
  OrderSummaryPartsFragment,
  ProductCardFragment,
  ProductFullFragment,
  SessionPartsFragment,
  StockPartsFragment,
  UserPartsFragment,
} from '../gql/graphql';

export type {
  AddressInput,
  CancelReason,
  CheckoutInput,
  OrderStatus,
  ProductInput,
  ProductPatch,
  RegisterInput,
  Role,
} from '../gql/graphql';

export type Money = MoneyPartsFragment;
export type User = UserPartsFragment;
/** What sign-in, registration, a password change and a cookie refresh give the app: the
 * refresh token itself stays in the BFF's HttpOnly cookie, out of script's reach. */
export type SessionPayload = SessionPartsFragment;
export type StockLevel = StockPartsFragment;
/** A product as the catalog grid shows it. */
export type ProductCard = ProductCardFragment;
/** A product with everything the product and admin pages show. */
export type Product = ProductFullFragment;
export type Cart = CartPartsFragment;
export type CartItem = Cart['items'][number];
export type Order = OrderPartsFragment;
export type Address = NonNullable<Order['shippingAddress']>;
export type OrderSummary = OrderSummaryPartsFragment;
/** A category of the catalog and how many (non-archived) products it has. */
export type CategoryCount = CategoriesQuery['categories'][number];
/** A Relay page as the connections in the schema share it. */
export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
