//! Writes. Each maps to one service RPC made with the caller's own token, so authorisation
//! (a customer creating a product gets FORBIDDEN) is decided by the service that owns the
//! data; the BFF adds the guest-cart handling and the stricter rate limit on credentials.

use async_graphql::{Context, ID, Object};
use shop_proto::shop::cart::v1::{
    AddItemRequest, MergeCartsRequest, RemoveItemRequest, UpdateItemRequest,
};
use shop_proto::shop::inventory::v1::SetStockRequest;
use shop_proto::shop::order::v1::{CancelOrderRequest, PlaceOrderRequest};
use shop_proto::shop::product::v1::{
    ArchiveProductRequest, CreateProductRequest, Product as ProductPb, UpdateProductRequest,
};
use shop_proto::shop::user::v1::{
    ChangePasswordRequest, LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, TokenPair,
    User as UserPb,
};

use super::types::{
    AuthPayload, Cart, CheckoutInput, Order, Product, ProductInput, ProductPatch, RegisterInput,
    StockLevel, User,
};
use super::{CookieSecure, cart_ref, clients, shared, viewer};
use crate::errors::{self, Fields, Reply as _};

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates a customer account and signs it in; a guest cart merges into the new account.
    #[tracing::instrument(skip_all)]
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        limit_credentials(ctx)?;
        let clients = clients(ctx)?;
        let request = RegisterRequest {
            email: input.email,
            password: input.password,
            name: input.name,
        };
        let response = clients
            .users
            .clone()
            .register(clients.request(request, None))
            .await
            .reply(Fields::input())?;
        signed_in(ctx, response.user, response.tokens).await
    }

    /// Exchanges credentials for tokens; a guest cart merges into the user's cart. Unknown
    /// email and wrong password fail alike (UNAUTHENTICATED).
    #[tracing::instrument(skip_all)]
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        limit_credentials(ctx)?;
        let clients = clients(ctx)?;
        let response = clients
            .users
            .clone()
            .login(clients.request(LoginRequest { email, password }, None))
            .await
            .reply(Fields::AS_IS)?;
        signed_in(ctx, response.user, response.tokens).await
    }

    /// Rotates a refresh token into a new pair; the old refresh token is spent.
    #[tracing::instrument(skip_all)]
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        limit_credentials(ctx)?;
        let clients = clients(ctx)?;
        let response = clients
            .users
            .clone()
            .refresh(clients.request(RefreshRequest { refresh_token }, None))
            .await
            .reply(Fields::AS_IS)?;
        set_refresh_cookie(ctx, response.tokens.as_ref());
        payload(response.user, response.tokens)
    }

    /// Changes the signed-in user's password after checking the current one. Every session
    /// of the user ends (all refresh tokens are revoked); this one continues with the fresh
    /// tokens returned.
    #[tracing::instrument(skip_all)]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let (_, bearer) = viewer(ctx)?.require_user()?;
        limit_credentials(ctx)?;
        let clients = clients(ctx)?;
        let request = ChangePasswordRequest {
            current_password,
            new_password,
        };
        let response = clients
            .users
            .clone()
            .change_password(clients.request(request, Some(bearer)))
            .await
            // `new_password` reads `newPassword`, the argument's name.
            .reply(Fields::AS_IS)?;
        set_refresh_cookie(ctx, response.tokens.as_ref());
        payload(response.user, response.tokens)
    }

    /// Ends this device's session (revokes the refresh token's family).
    #[tracing::instrument(skip_all)]
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<bool> {
        let clients = clients(ctx)?;
        clients
            .users
            .clone()
            .logout(clients.request(LogoutRequest { refresh_token }, viewer(ctx)?.bearer()))
            .await
            .reply(Fields::AS_IS)?;
        ctx.append_http_header(
            http::header::SET_COOKIE,
            crate::viewer::clear_refresh_cookie(cookie_secure(ctx)),
        );
        Ok(true)
    }

    /// Adds units of a SKU to the viewer's cart (a guest gets a cart on first use).
    #[tracing::instrument(skip_all, fields(sku = %sku))]
    async fn add_to_cart(
        &self,
        ctx: &Context<'_>,
        sku: String,
        quantity: i64,
    ) -> async_graphql::Result<Cart> {
        let clients = clients(ctx)?;
        let (cart, bearer) = cart_ref(ctx)?;
        let request = AddItemRequest {
            cart: Some(cart),
            sku,
            quantity,
            idempotency_key: String::new(),
        };
        clients
            .carts
            .clone()
            .add_item(clients.request(request, bearer.as_deref()))
            .await
            .payload(Fields::AS_IS, |reply| reply.cart.map(Cart))
    }

    /// Sets a line's quantity; 0 removes it.
    #[tracing::instrument(skip_all, fields(sku = %sku))]
    async fn update_cart_item(
        &self,
        ctx: &Context<'_>,
        sku: String,
        quantity: i64,
    ) -> async_graphql::Result<Cart> {
        let clients = clients(ctx)?;
        let (cart, bearer) = cart_ref(ctx)?;
        let request = UpdateItemRequest {
            cart: Some(cart),
            sku,
            quantity,
        };
        clients
            .carts
            .clone()
            .update_item(clients.request(request, bearer.as_deref()))
            .await
            .payload(Fields::AS_IS, |reply| reply.cart.map(Cart))
    }

    /// Removes a SKU's line (a no-op when absent).
    #[tracing::instrument(skip_all, fields(sku = %sku))]
    async fn remove_from_cart(
        &self,
        ctx: &Context<'_>,
        sku: String,
    ) -> async_graphql::Result<Cart> {
        let clients = clients(ctx)?;
        let (cart, bearer) = cart_ref(ctx)?;
        let request = RemoveItemRequest {
            cart: Some(cart),
            sku,
        };
        clients
            .carts
            .clone()
            .remove_item(clients.request(request, bearer.as_deref()))
            .await
            .payload(Fields::AS_IS, |reply| reply.cart.map(Cart))
    }

    /// Orders the signed-in user's cart. The order comes back PENDING; follow it with
    /// `orderUpdated` (out of stock or a declined card end it CANCELLED, not as an error).
    #[tracing::instrument(skip_all)]
    async fn checkout(
        &self,
        ctx: &Context<'_>,
        input: CheckoutInput,
    ) -> async_graphql::Result<Order> {
        let (_, bearer) = viewer(ctx)?.require_user()?;
        let (cart, _) = cart_ref(ctx)?;
        let clients = clients(ctx)?;
        let request = PlaceOrderRequest {
            idempotency_key: input.idempotency_key.clone(),
            cart: Some(cart),
            shipping_address: Some(input.shipping_address.to_proto()),
            payment_method: input.payment_method.clone(),
        };
        clients
            .orders
            .clone()
            .place_order(clients.request(request, Some(bearer)))
            .await
            .payload(Fields::input(), |reply| reply.order.map(Order))
    }

    /// Cancels one of the viewer's orders before it is confirmed (admins: any order).
    #[tracing::instrument(skip_all)]
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<Order> {
        let (_, bearer) = viewer(ctx)?.require_user()?;
        let clients = clients(ctx)?;
        let request = CancelOrderRequest {
            id: id.0,
            reason: reason.unwrap_or_default(),
        };
        clients
            .orders
            .clone()
            .cancel_order(clients.request(request, Some(bearer)))
            .await
            .payload(Fields::AS_IS, |reply| reply.order.map(Order))
    }

    /// Adds a product to the catalog (admin).
    #[tracing::instrument(skip_all)]
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: ProductInput,
    ) -> async_graphql::Result<Product> {
        let clients = clients(ctx)?;
        let request = CreateProductRequest {
            product: Some(ProductPb {
                sku: input.sku,
                name: input.name,
                description: input.description,
                price: Some(input.price.to_proto()),
                category: input.category,
                image_url: input.image_url,
                ..Default::default()
            }),
            idempotency_key: String::new(),
        };
        clients
            .products
            .clone()
            .create_product(clients.request(request, viewer(ctx)?.bearer()))
            .await
            .payload(Fields::input_from("product"), |reply| {
                reply.product.map(Product)
            })
    }

    /// Changes the given fields of a product (admin); the SKU is immutable. With
    /// `expectedVersion`, the change applies only to that version (CONFLICT otherwise), so
    /// two admins editing at once cannot silently overwrite each other.
    #[tracing::instrument(skip_all)]
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ProductPatch,
        expected_version: Option<i64>,
    ) -> async_graphql::Result<Product> {
        let mut product = ProductPb {
            id: id.0,
            ..Default::default()
        };
        let mut paths = Vec::new();
        if let Some(name) = input.name {
            product.name = name;
            paths.push("name".to_owned());
        }
        if let Some(description) = input.description {
            product.description = description;
            paths.push("description".to_owned());
        }
        if let Some(price) = input.price {
            product.price = Some(price.to_proto());
            paths.push("price".to_owned());
        }
        if let Some(category) = input.category {
            product.category = category;
            paths.push("category".to_owned());
        }
        if let Some(image_url) = input.image_url {
            product.image_url = image_url;
            paths.push("image_url".to_owned());
        }
        if paths.is_empty() {
            return Err(errors::bad_input(
                "input",
                "give at least one field to change",
            ));
        }
        let clients = clients(ctx)?;
        let request = UpdateProductRequest {
            product: Some(product),
            update_mask: Some(prost_types::FieldMask { paths }),
            expected_version: expected_version.unwrap_or(0),
        };
        clients
            .products
            .clone()
            .update_product(clients.request(request, viewer(ctx)?.bearer()))
            .await
            .payload(Fields::input_from("product"), |reply| {
                reply.product.map(Product)
            })
    }

    /// Hides a product from the catalog (admin); carts and orders keep referring to it.
    #[tracing::instrument(skip_all)]
    async fn archive_product(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Product> {
        let clients = clients(ctx)?;
        let request = ArchiveProductRequest {
            id: id.0,
            expected_version: 0,
        };
        clients
            .products
            .clone()
            .archive_product(clients.request(request, viewer(ctx)?.bearer()))
            .await
            .payload(Fields::AS_IS, |reply| reply.product.map(Product))
    }

    /// Sets a SKU's physical count (admin), e.g. after a stocktake.
    #[tracing::instrument(skip_all, fields(sku = %sku))]
    async fn set_stock(
        &self,
        ctx: &Context<'_>,
        sku: String,
        on_hand: i64,
    ) -> async_graphql::Result<StockLevel> {
        let clients = clients(ctx)?;
        let request = SetStockRequest {
            sku,
            on_hand,
            reason: "set through the storefront API".into(),
        };
        clients
            .inventory
            .clone()
            .set_stock(clients.request(request, viewer(ctx)?.bearer()))
            .await
            .payload(Fields::AS_IS, |reply| reply.stock.map(StockLevel::from))
    }
}

/// The stricter per-address limit on everything that takes credentials.
fn limit_credentials(ctx: &Context<'_>) -> async_graphql::Result<()> {
    let viewer = viewer(ctx)?;
    let shared = shared(ctx)?;
    if shared.auth_limiter.check(&viewer.address_key()) {
        Ok(())
    } else {
        shared
            .metrics
            .rate_limited
            .with_label_values(&["auth"])
            .inc();
        Err(errors::coded(
            "RATE_LIMITED",
            "too many sign-in attempts; try again in a minute",
        ))
    }
}

fn cookie_secure(ctx: &Context<'_>) -> bool {
    ctx.data_opt::<CookieSecure>()
        .is_some_and(|secure| secure.0)
}

/// Hands a browser its refresh token as the HttpOnly cookie the `/auth` endpoints read
/// (non-browser clients use `refreshToken` from the payload and ignore the cookie).
fn set_refresh_cookie(ctx: &Context<'_>, tokens: Option<&TokenPair>) {
    if let Some(tokens) = tokens {
        ctx.append_http_header(
            http::header::SET_COOKIE,
            crate::viewer::refresh_cookie(
                &tokens.refresh_token,
                tokens.refresh_token_expires_in,
                cookie_secure(ctx),
            ),
        );
    }
}

fn payload(user: Option<UserPb>, tokens: Option<TokenPair>) -> async_graphql::Result<AuthPayload> {
    let (Some(user), Some(tokens)) = (user, tokens) else {
        return Err(errors::internal());
    };
    Ok(AuthPayload {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_in: tokens.access_token_expires_in,
        user: User::from(user),
    })
}

/// After register or login: moves the guest cart (if any) into the user's cart and drops
/// the guest cookie. A failed merge does not fail the sign-in; the guest cart stays.
async fn signed_in(
    ctx: &Context<'_>,
    user: Option<UserPb>,
    tokens: Option<TokenPair>,
) -> async_graphql::Result<AuthPayload> {
    set_refresh_cookie(ctx, tokens.as_ref());
    let payload = payload(user, tokens)?;
    let viewer = viewer(ctx)?;
    if let Some(guest_cart_id) = &viewer.guest_cart {
        let clients = clients(ctx)?;
        let request = MergeCartsRequest {
            guest_cart_id: guest_cart_id.clone(),
            user_id: payload.user.id.0.clone(),
        };
        match clients
            .carts
            .clone()
            .merge_carts(clients.request(request, Some(&payload.access_token)))
            .await
        {
            Ok(_) => {
                ctx.append_http_header(
                    http::header::SET_COOKIE,
                    crate::viewer::clear_cart_cookie(cookie_secure(ctx)),
                );
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "guest cart merge failed");
            }
        }
    }
    Ok(payload)
}
