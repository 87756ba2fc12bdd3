/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type AddressInput = {
  city: string;
  /** ISO 3166-1 alpha-2, e.g. "DE". */
  country: string;
  line1: string;
  line2?: string | null | undefined;
  name: string;
  postalCode: string;
};

export type CancelReason =
  | 'CANCELLED_BY_ADMIN'
  | 'CANCELLED_BY_CUSTOMER'
  | 'OUT_OF_STOCK'
  | 'PAYMENT_DECLINED'
  | 'PAYMENT_FAILED'
  | 'RESERVATION_EXPIRED';

export type CheckoutInput = {
  /** Chosen per checkout attempt and reused on its retries, so a retry never orders twice. */
  idempotencyKey: string;
  /** A Stripe PaymentMethod id, e.g. "pm_card_visa". */
  paymentMethod: string;
  shippingAddress: AddressInput;
};

export type MoneyInput = {
  amountMinor: number;
  /** ISO 4217, e.g. "EUR". */
  currency: string;
};

export type OrderStatus =
  | 'AWAITING_PAYMENT'
  | 'CANCELLED'
  | 'CONFIRMED'
  | 'PENDING';

export type ProductInput = {
  category?: string;
  description?: string;
  imageUrl?: string;
  name: string;
  price: MoneyInput;
  sku: string;
};

/** Only the fields given are changed. */
export type ProductPatch = {
  category?: string | null | undefined;
  description?: string | null | undefined;
  imageUrl?: string | null | undefined;
  name?: string | null | undefined;
  price?: MoneyInput | null | undefined;
};

export type RegisterInput = {
  email: string;
  name: string;
  password: string;
};

export type Role =
  | 'ADMIN'
  | 'CUSTOMER';

export type MoneyPartsFragment = { amountMinor: number, currency: string, formatted: string };

export type UserPartsFragment = { id: string, email: string, name: string, role: Role };

export type SessionPartsFragment = { accessToken: string, expiresIn: number, user: { id: string, email: string, name: string, role: Role } };

export type StockPartsFragment = { sku: string, onHand: number, reserved: number, available: number };

export type ProductCardFragment = { id: string, sku: string, name: string, category: string, imageUrl: string, price: { amountMinor: number, currency: string, formatted: string }, stock: { sku: string, available: number } | null };

export type ProductFullFragment = { id: string, sku: string, name: string, description: string, category: string, imageUrl: string, archived: boolean, version: number, price: { amountMinor: number, currency: string, formatted: string }, stock: { sku: string, onHand: number, reserved: number, available: number } | null };

export type CartPartsFragment = { id: string, itemCount: number, subtotal: { amountMinor: number, currency: string, formatted: string }, items: Array<{ sku: string, quantity: number, productName: string, productArchived: boolean, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string }, product: { id: string, sku: string, name: string, imageUrl: string, category: string, stock: { sku: string, available: number } | null } | null }> };

export type OrderPartsFragment = { id: string, status: OrderStatus, cancelReason: CancelReason | null, cancelNote: string | null, paymentMethod: string, paymentClientSecret: string | null, paymentActionUrl: string | null, createdAt: string | null, updatedAt: string | null, version: number, total: { amountMinor: number, currency: string, formatted: string }, lines: Array<{ sku: string, productName: string, quantity: number, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string } }>, shippingAddress: { name: string, line1: string, line2: string | null, city: string, postalCode: string, country: string } | null };

export type OrderSummaryPartsFragment = { id: string, status: OrderStatus, cancelReason: CancelReason | null, createdAt: string | null, total: { amountMinor: number, currency: string, formatted: string }, lines: Array<{ sku: string, productName: string, quantity: number }> };

export type MeQueryVariables = Exact<{ [key: string]: never; }>;


export type MeQuery = { me: { id: string, email: string, name: string, role: Role } | null };

export type ProductsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  search?: string | null | undefined;
  category?: string | null | undefined;
}>;


export type ProductsQuery = { products: { edges: Array<{ cursor: string, node: { id: string, sku: string, name: string, category: string, imageUrl: string, price: { amountMinor: number, currency: string, formatted: string }, stock: { sku: string, available: number } | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CategoriesQueryVariables = Exact<{ [key: string]: never; }>;


export type CategoriesQuery = { categories: Array<{ slug: string, productCount: number }> };

export type ProductQueryVariables = Exact<{
  sku?: string | null | undefined;
}>;


export type ProductQuery = { product: { id: string, sku: string, name: string, description: string, category: string, imageUrl: string, archived: boolean, version: number, price: { amountMinor: number, currency: string, formatted: string }, stock: { sku: string, onHand: number, reserved: number, available: number } | null } | null };

export type CartQueryVariables = Exact<{ [key: string]: never; }>;


export type CartQuery = { cart: { id: string, itemCount: number, subtotal: { amountMinor: number, currency: string, formatted: string }, items: Array<{ sku: string, quantity: number, productName: string, productArchived: boolean, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string }, product: { id: string, sku: string, name: string, imageUrl: string, category: string, stock: { sku: string, available: number } | null } | null }> } };

export type AddToCartMutationVariables = Exact<{
  sku: string;
  quantity: number;
}>;


export type AddToCartMutation = { addToCart: { id: string, itemCount: number, subtotal: { amountMinor: number, currency: string, formatted: string }, items: Array<{ sku: string, quantity: number, productName: string, productArchived: boolean, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string }, product: { id: string, sku: string, name: string, imageUrl: string, category: string, stock: { sku: string, available: number } | null } | null }> } };

export type UpdateCartItemMutationVariables = Exact<{
  sku: string;
  quantity: number;
}>;


export type UpdateCartItemMutation = { updateCartItem: { id: string, itemCount: number, subtotal: { amountMinor: number, currency: string, formatted: string }, items: Array<{ sku: string, quantity: number, productName: string, productArchived: boolean, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string }, product: { id: string, sku: string, name: string, imageUrl: string, category: string, stock: { sku: string, available: number } | null } | null }> } };

export type RemoveFromCartMutationVariables = Exact<{
  sku: string;
}>;


export type RemoveFromCartMutation = { removeFromCart: { id: string, itemCount: number, subtotal: { amountMinor: number, currency: string, formatted: string }, items: Array<{ sku: string, quantity: number, productName: string, productArchived: boolean, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string }, product: { id: string, sku: string, name: string, imageUrl: string, category: string, stock: { sku: string, available: number } | null } | null }> } };

export type RegisterMutationVariables = Exact<{
  input: RegisterInput;
}>;


export type RegisterMutation = { register: { accessToken: string, expiresIn: number, user: { id: string, email: string, name: string, role: Role } } };

export type LoginMutationVariables = Exact<{
  email: string;
  password: string;
}>;


export type LoginMutation = { login: { accessToken: string, expiresIn: number, user: { id: string, email: string, name: string, role: Role } } };

export type ChangePasswordMutationVariables = Exact<{
  currentPassword: string;
  newPassword: string;
}>;


export type ChangePasswordMutation = { changePassword: { accessToken: string, expiresIn: number, user: { id: string, email: string, name: string, role: Role } } };

export type CheckoutMutationVariables = Exact<{
  input: CheckoutInput;
}>;


export type CheckoutMutation = { checkout: { id: string, status: OrderStatus, cancelReason: CancelReason | null, cancelNote: string | null, paymentMethod: string, paymentClientSecret: string | null, paymentActionUrl: string | null, createdAt: string | null, updatedAt: string | null, version: number, total: { amountMinor: number, currency: string, formatted: string }, lines: Array<{ sku: string, productName: string, quantity: number, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string } }>, shippingAddress: { name: string, line1: string, line2: string | null, city: string, postalCode: string, country: string } | null } };

export type OrderQueryVariables = Exact<{
  id: string;
}>;


export type OrderQuery = { order: { id: string, status: OrderStatus, cancelReason: CancelReason | null, cancelNote: string | null, paymentMethod: string, paymentClientSecret: string | null, paymentActionUrl: string | null, createdAt: string | null, updatedAt: string | null, version: number, total: { amountMinor: number, currency: string, formatted: string }, lines: Array<{ sku: string, productName: string, quantity: number, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string } }>, shippingAddress: { name: string, line1: string, line2: string | null, city: string, postalCode: string, country: string } | null } | null };

export type OrdersQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type OrdersQuery = { orders: { edges: Array<{ cursor: string, node: { id: string, status: OrderStatus, cancelReason: CancelReason | null, createdAt: string | null, total: { amountMinor: number, currency: string, formatted: string }, lines: Array<{ sku: string, productName: string, quantity: number }> } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CancelOrderMutationVariables = Exact<{
  id: string;
  reason?: string | null | undefined;
}>;


export type CancelOrderMutation = { cancelOrder: { id: string, status: OrderStatus, cancelReason: CancelReason | null, cancelNote: string | null, paymentMethod: string, paymentClientSecret: string | null, paymentActionUrl: string | null, createdAt: string | null, updatedAt: string | null, version: number, total: { amountMinor: number, currency: string, formatted: string }, lines: Array<{ sku: string, productName: string, quantity: number, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string } }>, shippingAddress: { name: string, line1: string, line2: string | null, city: string, postalCode: string, country: string } | null } };

export type OrderUpdatedSubscriptionVariables = Exact<{
  orderId: string;
}>;


export type OrderUpdatedSubscription = { orderUpdated: { id: string, status: OrderStatus, cancelReason: CancelReason | null, cancelNote: string | null, paymentMethod: string, paymentClientSecret: string | null, paymentActionUrl: string | null, createdAt: string | null, updatedAt: string | null, version: number, total: { amountMinor: number, currency: string, formatted: string }, lines: Array<{ sku: string, productName: string, quantity: number, unitPrice: { amountMinor: number, currency: string, formatted: string }, lineTotal: { amountMinor: number, currency: string, formatted: string } }>, shippingAddress: { name: string, line1: string, line2: string | null, city: string, postalCode: string, country: string } | null } };

export type CreateProductMutationVariables = Exact<{
  input: ProductInput;
}>;


export type CreateProductMutation = { createProduct: { id: string, sku: string, name: string, description: string, category: string, imageUrl: string, archived: boolean, version: number, price: { amountMinor: number, currency: string, formatted: string }, stock: { sku: string, onHand: number, reserved: number, available: number } | null } };

export type UpdateProductMutationVariables = Exact<{
  id: string;
  input: ProductPatch;
  expectedVersion?: number | null | undefined;
}>;


export type UpdateProductMutation = { updateProduct: { id: string, sku: string, name: string, description: string, category: string, imageUrl: string, archived: boolean, version: number, price: { amountMinor: number, currency: string, formatted: string }, stock: { sku: string, onHand: number, reserved: number, available: number } | null } };

export type SetStockMutationVariables = Exact<{
  sku: string;
  onHand: number;
}>;


export type SetStockMutation = { setStock: { sku: string, onHand: number, reserved: number, available: number } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const UserPartsFragmentDoc = new TypedDocumentString(`
    fragment UserParts on User {
  id
  email
  name
  role
}
    `, {"fragmentName":"UserParts"}) as unknown as TypedDocumentString<UserPartsFragment, unknown>;
export const SessionPartsFragmentDoc = new TypedDocumentString(`
    fragment SessionParts on AuthPayload {
  accessToken
  expiresIn
  user {
    ...UserParts
  }
}
    fragment UserParts on User {
  id
  email
  name
  role
}`, {"fragmentName":"SessionParts"}) as unknown as TypedDocumentString<SessionPartsFragment, unknown>;
export const MoneyPartsFragmentDoc = new TypedDocumentString(`
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
    `, {"fragmentName":"MoneyParts"}) as unknown as TypedDocumentString<MoneyPartsFragment, unknown>;
export const ProductCardFragmentDoc = new TypedDocumentString(`
    fragment ProductCard on Product {
  id
  sku
  name
  category
  imageUrl
  price {
    ...MoneyParts
  }
  stock {
    sku
    available
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}`, {"fragmentName":"ProductCard"}) as unknown as TypedDocumentString<ProductCardFragment, unknown>;
export const StockPartsFragmentDoc = new TypedDocumentString(`
    fragment StockParts on StockLevel {
  sku
  onHand
  reserved
  available
}
    `, {"fragmentName":"StockParts"}) as unknown as TypedDocumentString<StockPartsFragment, unknown>;
export const ProductFullFragmentDoc = new TypedDocumentString(`
    fragment ProductFull on Product {
  id
  sku
  name
  description
  category
  imageUrl
  archived
  version
  price {
    ...MoneyParts
  }
  stock {
    ...StockParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment StockParts on StockLevel {
  sku
  onHand
  reserved
  available
}`, {"fragmentName":"ProductFull"}) as unknown as TypedDocumentString<ProductFullFragment, unknown>;
export const CartPartsFragmentDoc = new TypedDocumentString(`
    fragment CartParts on Cart {
  id
  itemCount
  subtotal {
    ...MoneyParts
  }
  items {
    sku
    quantity
    productName
    productArchived
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
    product {
      id
      sku
      name
      imageUrl
      category
      stock {
        sku
        available
      }
    }
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}`, {"fragmentName":"CartParts"}) as unknown as TypedDocumentString<CartPartsFragment, unknown>;
export const OrderPartsFragmentDoc = new TypedDocumentString(`
    fragment OrderParts on Order {
  id
  status
  cancelReason
  cancelNote
  paymentMethod
  paymentClientSecret
  paymentActionUrl
  createdAt
  updatedAt
  version
  total {
    ...MoneyParts
  }
  lines {
    sku
    productName
    quantity
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
  }
  shippingAddress {
    name
    line1
    line2
    city
    postalCode
    country
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}`, {"fragmentName":"OrderParts"}) as unknown as TypedDocumentString<OrderPartsFragment, unknown>;
export const OrderSummaryPartsFragmentDoc = new TypedDocumentString(`
    fragment OrderSummaryParts on Order {
  id
  status
  cancelReason
  createdAt
  total {
    ...MoneyParts
  }
  lines {
    sku
    productName
    quantity
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}`, {"fragmentName":"OrderSummaryParts"}) as unknown as TypedDocumentString<OrderSummaryPartsFragment, unknown>;
export const MeDocument = new TypedDocumentString(`
    query Me {
  me {
    ...UserParts
  }
}
    fragment UserParts on User {
  id
  email
  name
  role
}`) as unknown as TypedDocumentString<MeQuery, MeQueryVariables>;
export const ProductsDocument = new TypedDocumentString(`
    query Products($first: Int, $after: String, $search: String, $category: String) {
  products(first: $first, after: $after, search: $search, category: $category) {
    edges {
      cursor
      node {
        ...ProductCard
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment ProductCard on Product {
  id
  sku
  name
  category
  imageUrl
  price {
    ...MoneyParts
  }
  stock {
    sku
    available
  }
}`) as unknown as TypedDocumentString<ProductsQuery, ProductsQueryVariables>;
export const CategoriesDocument = new TypedDocumentString(`
    query Categories {
  categories {
    slug
    productCount
  }
}
    `) as unknown as TypedDocumentString<CategoriesQuery, CategoriesQueryVariables>;
export const ProductDocument = new TypedDocumentString(`
    query Product($sku: String) {
  product(sku: $sku) {
    ...ProductFull
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment StockParts on StockLevel {
  sku
  onHand
  reserved
  available
}
fragment ProductFull on Product {
  id
  sku
  name
  description
  category
  imageUrl
  archived
  version
  price {
    ...MoneyParts
  }
  stock {
    ...StockParts
  }
}`) as unknown as TypedDocumentString<ProductQuery, ProductQueryVariables>;
export const CartDocument = new TypedDocumentString(`
    query Cart {
  cart {
    ...CartParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment CartParts on Cart {
  id
  itemCount
  subtotal {
    ...MoneyParts
  }
  items {
    sku
    quantity
    productName
    productArchived
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
    product {
      id
      sku
      name
      imageUrl
      category
      stock {
        sku
        available
      }
    }
  }
}`) as unknown as TypedDocumentString<CartQuery, CartQueryVariables>;
export const AddToCartDocument = new TypedDocumentString(`
    mutation AddToCart($sku: String!, $quantity: Int!) {
  addToCart(sku: $sku, quantity: $quantity) {
    ...CartParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment CartParts on Cart {
  id
  itemCount
  subtotal {
    ...MoneyParts
  }
  items {
    sku
    quantity
    productName
    productArchived
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
    product {
      id
      sku
      name
      imageUrl
      category
      stock {
        sku
        available
      }
    }
  }
}`) as unknown as TypedDocumentString<AddToCartMutation, AddToCartMutationVariables>;
export const UpdateCartItemDocument = new TypedDocumentString(`
    mutation UpdateCartItem($sku: String!, $quantity: Int!) {
  updateCartItem(sku: $sku, quantity: $quantity) {
    ...CartParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment CartParts on Cart {
  id
  itemCount
  subtotal {
    ...MoneyParts
  }
  items {
    sku
    quantity
    productName
    productArchived
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
    product {
      id
      sku
      name
      imageUrl
      category
      stock {
        sku
        available
      }
    }
  }
}`) as unknown as TypedDocumentString<UpdateCartItemMutation, UpdateCartItemMutationVariables>;
export const RemoveFromCartDocument = new TypedDocumentString(`
    mutation RemoveFromCart($sku: String!) {
  removeFromCart(sku: $sku) {
    ...CartParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment CartParts on Cart {
  id
  itemCount
  subtotal {
    ...MoneyParts
  }
  items {
    sku
    quantity
    productName
    productArchived
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
    product {
      id
      sku
      name
      imageUrl
      category
      stock {
        sku
        available
      }
    }
  }
}`) as unknown as TypedDocumentString<RemoveFromCartMutation, RemoveFromCartMutationVariables>;
export const RegisterDocument = new TypedDocumentString(`
    mutation Register($input: RegisterInput!) {
  register(input: $input) {
    ...SessionParts
  }
}
    fragment UserParts on User {
  id
  email
  name
  role
}
fragment SessionParts on AuthPayload {
  accessToken
  expiresIn
  user {
    ...UserParts
  }
}`) as unknown as TypedDocumentString<RegisterMutation, RegisterMutationVariables>;
export const LoginDocument = new TypedDocumentString(`
    mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    ...SessionParts
  }
}
    fragment UserParts on User {
  id
  email
  name
  role
}
fragment SessionParts on AuthPayload {
  accessToken
  expiresIn
  user {
    ...UserParts
  }
}`) as unknown as TypedDocumentString<LoginMutation, LoginMutationVariables>;
export const ChangePasswordDocument = new TypedDocumentString(`
    mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
  changePassword(currentPassword: $currentPassword, newPassword: $newPassword) {
    ...SessionParts
  }
}
    fragment UserParts on User {
  id
  email
  name
  role
}
fragment SessionParts on AuthPayload {
  accessToken
  expiresIn
  user {
    ...UserParts
  }
}`) as unknown as TypedDocumentString<ChangePasswordMutation, ChangePasswordMutationVariables>;
export const CheckoutDocument = new TypedDocumentString(`
    mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) {
    ...OrderParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment OrderParts on Order {
  id
  status
  cancelReason
  cancelNote
  paymentMethod
  paymentClientSecret
  paymentActionUrl
  createdAt
  updatedAt
  version
  total {
    ...MoneyParts
  }
  lines {
    sku
    productName
    quantity
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
  }
  shippingAddress {
    name
    line1
    line2
    city
    postalCode
    country
  }
}`) as unknown as TypedDocumentString<CheckoutMutation, CheckoutMutationVariables>;
export const OrderDocument = new TypedDocumentString(`
    query Order($id: ID!) {
  order(id: $id) {
    ...OrderParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment OrderParts on Order {
  id
  status
  cancelReason
  cancelNote
  paymentMethod
  paymentClientSecret
  paymentActionUrl
  createdAt
  updatedAt
  version
  total {
    ...MoneyParts
  }
  lines {
    sku
    productName
    quantity
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
  }
  shippingAddress {
    name
    line1
    line2
    city
    postalCode
    country
  }
}`) as unknown as TypedDocumentString<OrderQuery, OrderQueryVariables>;
export const OrdersDocument = new TypedDocumentString(`
    query Orders($first: Int, $after: String) {
  orders(first: $first, after: $after) {
    edges {
      cursor
      node {
        ...OrderSummaryParts
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment OrderSummaryParts on Order {
  id
  status
  cancelReason
  createdAt
  total {
    ...MoneyParts
  }
  lines {
    sku
    productName
    quantity
  }
}`) as unknown as TypedDocumentString<OrdersQuery, OrdersQueryVariables>;
export const CancelOrderDocument = new TypedDocumentString(`
    mutation CancelOrder($id: ID!, $reason: String) {
  cancelOrder(id: $id, reason: $reason) {
    ...OrderParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment OrderParts on Order {
  id
  status
  cancelReason
  cancelNote
  paymentMethod
  paymentClientSecret
  paymentActionUrl
  createdAt
  updatedAt
  version
  total {
    ...MoneyParts
  }
  lines {
    sku
    productName
    quantity
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
  }
  shippingAddress {
    name
    line1
    line2
    city
    postalCode
    country
  }
}`) as unknown as TypedDocumentString<CancelOrderMutation, CancelOrderMutationVariables>;
export const OrderUpdatedDocument = new TypedDocumentString(`
    subscription OrderUpdated($orderId: ID!) {
  orderUpdated(orderId: $orderId) {
    ...OrderParts
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment OrderParts on Order {
  id
  status
  cancelReason
  cancelNote
  paymentMethod
  paymentClientSecret
  paymentActionUrl
  createdAt
  updatedAt
  version
  total {
    ...MoneyParts
  }
  lines {
    sku
    productName
    quantity
    unitPrice {
      ...MoneyParts
    }
    lineTotal {
      ...MoneyParts
    }
  }
  shippingAddress {
    name
    line1
    line2
    city
    postalCode
    country
  }
}`) as unknown as TypedDocumentString<OrderUpdatedSubscription, OrderUpdatedSubscriptionVariables>;
export const CreateProductDocument = new TypedDocumentString(`
    mutation CreateProduct($input: ProductInput!) {
  createProduct(input: $input) {
    ...ProductFull
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment StockParts on StockLevel {
  sku
  onHand
  reserved
  available
}
fragment ProductFull on Product {
  id
  sku
  name
  description
  category
  imageUrl
  archived
  version
  price {
    ...MoneyParts
  }
  stock {
    ...StockParts
  }
}`) as unknown as TypedDocumentString<CreateProductMutation, CreateProductMutationVariables>;
export const UpdateProductDocument = new TypedDocumentString(`
    mutation UpdateProduct($id: ID!, $input: ProductPatch!, $expectedVersion: Int) {
  updateProduct(id: $id, input: $input, expectedVersion: $expectedVersion) {
    ...ProductFull
  }
}
    fragment MoneyParts on Money {
  amountMinor
  currency
  formatted
}
fragment StockParts on StockLevel {
  sku
  onHand
  reserved
  available
}
fragment ProductFull on Product {
  id
  sku
  name
  description
  category
  imageUrl
  archived
  version
  price {
    ...MoneyParts
  }
  stock {
    ...StockParts
  }
}`) as unknown as TypedDocumentString<UpdateProductMutation, UpdateProductMutationVariables>;
export const SetStockDocument = new TypedDocumentString(`
    mutation SetStock($sku: String!, $onHand: Int!) {
  setStock(sku: $sku, onHand: $onHand) {
    ...StockParts
  }
}
    fragment StockParts on StockLevel {
  sku
  onHand
  reserved
  available
}`) as unknown as TypedDocumentString<SetStockMutation, SetStockMutationVariables>;