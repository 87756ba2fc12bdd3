// TypeScript shapes of the parts of bff/schema.graphql the app selects. The schema is the
// contract; these mirror it by hand (the selection sets in operations.ts decide which
// fields are actually present).

export interface Money {
  amountMinor: number;
  currency: string;
  formatted: string;
}

export interface MoneyInput {
  amountMinor: number;
  currency: string;
}

export type Role = 'CUSTOMER' | 'ADMIN';

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/** What sign-in, registration, a password change and a cookie refresh give the app: the
 * refresh token itself stays in the BFF's HttpOnly cookie, out of script's reach. */
export interface SessionPayload {
  accessToken: string;
  expiresIn: number;
  user: User;
}

export type AuthPayload = SessionPayload;

export interface StockLevel {
  sku: string;
  onHand: number;
  reserved: number;
  available: number;
}

export interface Product {
  id: string;
  sku: string;
  name: string;
  description: string;
  price: Money;
  category: string;
  imageUrl: string;
  archived: boolean;
  version: number;
  stock: StockLevel | null;
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: PageInfo;
}

export interface CartItem {
  sku: string;
  quantity: number;
  unitPrice: Money;
  lineTotal: Money;
  productName: string;
  productArchived: boolean;
  product: Pick<Product, 'id' | 'sku' | 'name' | 'imageUrl' | 'category' | 'stock'> | null;
}

export interface Cart {
  id: string;
  items: CartItem[];
  subtotal: Money;
  itemCount: number;
}

export type OrderStatus = 'PENDING' | 'AWAITING_PAYMENT' | 'CONFIRMED' | 'CANCELLED';

export type CancelReason =
  | 'OUT_OF_STOCK'
  | 'PAYMENT_DECLINED'
  | 'PAYMENT_FAILED'
  | 'RESERVATION_EXPIRED'
  | 'CANCELLED_BY_CUSTOMER'
  | 'CANCELLED_BY_ADMIN';

export interface Address {
  name: string;
  line1: string;
  line2?: string | null;
  city: string;
  postalCode: string;
  country: string;
}

export interface OrderLine {
  sku: string;
  productName: string;
  quantity: number;
  unitPrice: Money;
  lineTotal: Money;
}

export interface Order {
  id: string;
  status: OrderStatus;
  lines: OrderLine[];
  total: Money;
  cancelReason: CancelReason | null;
  cancelNote: string | null;
  paymentMethod: string;
  paymentClientSecret: string | null;
  shippingAddress: Address | null;
  createdAt: string | null;
  updatedAt: string | null;
  version: number;
}

export interface OrderSummary {
  id: string;
  status: OrderStatus;
  total: Money;
  cancelReason: CancelReason | null;
  createdAt: string | null;
  lines: Pick<OrderLine, 'sku' | 'quantity' | 'productName'>[];
}

export interface CheckoutInput {
  paymentMethod: string;
  idempotencyKey: string;
  shippingAddress: Address;
}

export interface ProductInput {
  sku: string;
  name: string;
  description: string;
  price: MoneyInput;
  category: string;
  imageUrl: string;
}

export type ProductPatch = Partial<Omit<ProductInput, 'sku'>>;

export interface RegisterInput {
  email: string;
  password: string;
  name: string;
}
