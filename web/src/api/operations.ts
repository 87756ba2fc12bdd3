// The GraphQL documents the app sends, against bff/schema.graphql. Selection sets are kept
// small (the BFF counts complexity per connection item).

const MONEY = 'amountMinor currency formatted';
const USER = 'id email name role';
// No refreshToken: the browser's refresh token stays in the HttpOnly cookie.
const AUTH = `accessToken expiresIn user { ${USER} }`;
const STOCK = 'sku onHand reserved available';

const PRODUCT_CARD = `id sku name category imageUrl price { ${MONEY} } stock { sku available }`;
const PRODUCT_FULL = `id sku name description category imageUrl archived version
  price { ${MONEY} } stock { ${STOCK} }`;

const CART = `id itemCount subtotal { ${MONEY} }
  items {
    sku quantity productName productArchived
    unitPrice { ${MONEY} } lineTotal { ${MONEY} }
    product { id sku name imageUrl category stock { sku available } }
  }`;

const ORDER = `id status cancelReason cancelNote paymentMethod paymentClientSecret createdAt updatedAt version
  total { ${MONEY} }
  lines { sku productName quantity unitPrice { ${MONEY} } lineTotal { ${MONEY} } }
  shippingAddress { name line1 line2 city postalCode country }`;

const ORDER_SUMMARY = `id status cancelReason createdAt total { ${MONEY} } lines { sku productName quantity }`;

export const ME = `query Me { me { ${USER} } }`;

export const PRODUCTS = `query Products($first: Int, $after: String, $search: String, $category: String) {
  products(first: $first, after: $after, search: $search, category: $category) {
    edges { cursor node { ${PRODUCT_CARD} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** The BFF has no categories query: the first 100 products name the categories in use. */
export const CATEGORIES = `query Categories {
  products(first: 100) { edges { node { category } } }
}`;

export const PRODUCT = `query Product($sku: String) { product(sku: $sku) { ${PRODUCT_FULL} } }`;

export const CART_QUERY = `query Cart { cart { ${CART} } }`;

export const ADD_TO_CART = `mutation AddToCart($sku: String!, $quantity: Int!) {
  addToCart(sku: $sku, quantity: $quantity) { ${CART} }
}`;

export const UPDATE_CART_ITEM = `mutation UpdateCartItem($sku: String!, $quantity: Int!) {
  updateCartItem(sku: $sku, quantity: $quantity) { ${CART} }
}`;

export const REMOVE_FROM_CART = `mutation RemoveFromCart($sku: String!) {
  removeFromCart(sku: $sku) { ${CART} }
}`;

export const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { ${AUTH} } }`;

export const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { ${AUTH} }
}`;

export const CHANGE_PASSWORD = `mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
  changePassword(currentPassword: $currentPassword, newPassword: $newPassword) { ${AUTH} }
}`;

export const CHECKOUT = `mutation Checkout($input: CheckoutInput!) { checkout(input: $input) { ${ORDER} } }`;

export const ORDER_QUERY = `query Order($id: ID!) { order(id: $id) { ${ORDER} } }`;

export const ORDERS = `query Orders($first: Int, $after: String) {
  orders(first: $first, after: $after) {
    edges { cursor node { ${ORDER_SUMMARY} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const CANCEL_ORDER = `mutation CancelOrder($id: ID!, $reason: String) {
  cancelOrder(id: $id, reason: $reason) { ${ORDER} }
}`;

export const ORDER_UPDATED = `subscription OrderUpdated($orderId: ID!) { orderUpdated(orderId: $orderId) { ${ORDER} } }`;

export const CREATE_PRODUCT = `mutation CreateProduct($input: ProductInput!) { createProduct(input: $input) { ${PRODUCT_FULL} } }`;

export const UPDATE_PRODUCT = `mutation UpdateProduct($id: ID!, $input: ProductPatch!, $expectedVersion: Int) {
  updateProduct(id: $id, input: $input, expectedVersion: $expectedVersion) { ${PRODUCT_FULL} }
}`;

export const SET_STOCK = `mutation SetStock($sku: String!, $onHand: Int!) { setStock(sku: $sku, onHand: $onHand) { ${STOCK} } }`;
