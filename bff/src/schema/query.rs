//! Reads: the catalog (public), the viewer's cart (guest or user) and the viewer's orders.

use async_graphql::{Context, ID, Object};
use shop_proto::shop::cart::v1::GetCartRequest;
use shop_proto::shop::order::v1::{GetOrderRequest, ListOrdersRequest};
use shop_proto::shop::product::v1::{
    GetProductRequest, ListCategoriesRequest, ListProductsRequest, get_product_request,
};
use shop_proto::shop::user::v1::GetMeRequest;

use super::types::CategoryCount;
use super::types::{
    Cart, Cursor, Order, OrderConnection, OrderEdge, Product, ProductConnection, ProductEdge, User,
    page_size, paginate,
};
use super::{cart_ref, clients, viewer};
use crate::errors::{self, Fields, Reply as _};
use crate::loaders::Loaders;

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user; null for a guest.
    #[tracing::instrument(skip_all)]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let viewer = viewer(ctx)?;
        let bearer = match &viewer.auth {
            crate::viewer::Auth::Anonymous => return Ok(None),
            crate::viewer::Auth::Invalid => return Err(errors::unauthenticated()),
            crate::viewer::Auth::Verified { bearer, .. } => bearer,
        };
        let clients = clients(ctx)?;
        let response = clients
            .users
            .clone()
            .get_me(clients.request(GetMeRequest {}, Some(bearer)))
            .await
            .reply(Fields::AS_IS)?;
        Ok(response.user.map(User::from))
    }

    /// One product by id or SKU (exactly one of them); null when there is none.
    #[tracing::instrument(skip_all)]
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        sku: Option<String>,
    ) -> async_graphql::Result<Option<Product>> {
        let key = match (id, sku) {
            (Some(id), None) => get_product_request::Key::Id(id.0),
            (None, Some(sku)) => get_product_request::Key::Sku(sku),
            _ => return Err(errors::bad_input("id", "give exactly one of id and sku")),
        };
        let clients = clients(ctx)?;
        clients
            .products
            .clone()
            .get_product(clients.request(GetProductRequest { key: Some(key) }, None))
            .await
            .found(|reply| reply.product.map(Product))
    }

    /// A page of the catalog, optionally searched and filtered by category. Search is
    /// case-insensitive and every word of it must match a word of the product's name,
    /// description, SKU or category: a word of one or two letters as its beginning ("mu"
    /// finds "Mug"), a longer one anywhere inside it ("lamp" finds "Headlamp"), and a word
    /// of four or more letters that matches nothing that way is forgiven one typo ("lamps",
    /// "haedlamp" find "Headlamp").
    #[tracing::instrument(skip_all)]
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
        category: Option<String>,
    ) -> async_graphql::Result<ProductConnection> {
        let first = page_size(first)?;
        let cursor = match after {
            Some(raw) => Cursor::decode(&raw)?,
            None => Cursor {
                token: String::new(),
                skip: 0,
            },
        };
        let clients = clients(ctx)?;
        let request = ListProductsRequest {
            page_size: (first + cursor.skip + 1) as i32,
            page_token: cursor.token.clone(),
            category: category.unwrap_or_default(),
            search: search.unwrap_or_default(),
            sort: 0,
            include_archived: false,
        };
        let response = clients
            .products
            .clone()
            .list_products(clients.request(request, None))
            .await
            .reply(Fields::AS_IS)?;
        let (edges, page_info) =
            paginate(&cursor, response.products, first, response.next_page_token);
        if ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("stock")
            .exists()
        {
            let skus = edges
                .iter()
                .map(|(_, product)| product.sku.clone())
                .collect();
            crate::loaders::prime(&ctx.data::<Loaders>()?.stock, skus).await;
        }
        Ok(ProductConnection {
            edges: edges
                .into_iter()
                .map(|(cursor, node)| ProductEdge {
                    cursor,
                    node: Product(node),
                })
                .collect(),
            page_info,
        })
    }

    /// Every category that has listed products, with how many, sorted by slug: the
    /// storefront's category filter, complete however large the catalog.
    #[tracing::instrument(skip_all)]
    async fn categories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CategoryCount>> {
        let clients = clients(ctx)?;
        let response = clients
            .products
            .clone()
            .list_categories(clients.request(ListCategoriesRequest {}, None))
            .await
            .reply(Fields::AS_IS)?;
        Ok(response
            .categories
            .into_iter()
            .map(|category| CategoryCount {
                slug: category.slug,
                product_count: category.product_count,
            })
            .collect())
    }

    /// The viewer's cart: the user's when signed in, else the guest cart of the `cart_id`
    /// cookie or `X-Cart-Id` header (a new one is started when there is none).
    #[tracing::instrument(skip_all)]
    async fn cart(&self, ctx: &Context<'_>) -> async_graphql::Result<Cart> {
        let clients = clients(ctx)?;
        let (cart, bearer) = cart_ref(ctx)?;
        clients
            .carts
            .clone()
            .get_cart(clients.request(GetCartRequest { cart: Some(cart) }, bearer.as_deref()))
            .await
            .payload(Fields::AS_IS, |reply| reply.cart.map(Cart))
    }

    /// One of the viewer's orders (any order, for an admin); null when there is no such
    /// order or it is someone else's.
    #[tracing::instrument(skip_all)]
    async fn order(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Order>> {
        let (_, bearer) = viewer(ctx)?.require_user()?;
        let clients = clients(ctx)?;
        clients
            .orders
            .clone()
            .get_order(clients.request(GetOrderRequest { id: id.0 }, Some(bearer)))
            .await
            .found(|reply| reply.order.map(Order))
    }

    /// The viewer's orders, newest first.
    #[tracing::instrument(skip_all)]
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<OrderConnection> {
        let (claims, bearer) = viewer(ctx)?.require_user()?;
        let first = page_size(first)?;
        let cursor = match after {
            Some(raw) => Cursor::decode(&raw)?,
            None => Cursor {
                token: String::new(),
                skip: 0,
            },
        };
        let clients = clients(ctx)?;
        let request = ListOrdersRequest {
            page_size: (first + cursor.skip + 1) as i32,
            page_token: cursor.token.clone(),
            // An admin's own history here, like anyone's; other users' orders are an admin
            // tool's business.
            user_id: claims.sub.clone(),
            status: 0,
        };
        let response = clients
            .orders
            .clone()
            .list_orders(clients.request(request, Some(bearer)))
            .await
            .reply(Fields::AS_IS)?;
        let (edges, page_info) =
            paginate(&cursor, response.orders, first, response.next_page_token);
        Ok(OrderConnection {
            edges: edges
                .into_iter()
                .map(|(cursor, node)| OrderEdge {
                    cursor,
                    node: Order(node),
                })
                .collect(),
            page_info,
        })
    }
}
