//! The GraphQL schema (docs/architecture.md §6) and what its resolvers share.

pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::{Context, Schema};
use shop_proto::shop::cart::v1::{CartRef, cart_ref};

use crate::clients::Clients;
use crate::feed::Feed;
use crate::gateway::{BffMetrics, RateLimiter};
use crate::viewer::{self, Viewer};

pub type ShopSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Process-wide data every resolver may use.
pub struct SchemaData {
    pub clients: Clients,
    pub feed: Feed,
    /// Flips to true when the server drains, ending live subscriptions.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub poll_every: Duration,
    /// The stricter limit on login, register and refreshToken.
    pub auth_limiter: Arc<RateLimiter>,
    pub metrics: Arc<BffMetrics>,
}

/// Per-request: the guest cart id minted during this request, so two cart fields of one
/// operation use the same new cart.
#[derive(Default)]
pub struct MintedCart(pub Mutex<Option<String>>);

/// Per-request: whether the cookies (guest cart, refresh token) should be set `Secure`.
#[derive(Clone, Copy)]
pub struct CookieSecure(pub bool);

pub fn build(config: &crate::BffConfig, data: SchemaData) -> ShopSchema {
    let mut builder = Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity)
        .data(data.clients.clone())
        .data(data);
    if config.is_production() {
        // The schema is no secret (it is in the repository), but a production endpoint need
        // not hand attackers a map or spell-check their probes ("did you mean ...").
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL of the schema, as committed in `bff/schema.graphql`.
pub fn schema_sdl() -> String {
    Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .finish()
        .sdl()
}

pub(crate) fn viewer<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Viewer> {
    ctx.data::<Viewer>().map_err(|_| crate::errors::internal())
}

pub(crate) fn clients<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Clients> {
    ctx.data::<Clients>().map_err(|_| crate::errors::internal())
}

pub(crate) fn shared<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a SchemaData> {
    ctx.data::<SchemaData>()
        .map_err(|_| crate::errors::internal())
}

/// The viewer's cart and the token to use with it: the user's cart when signed in, else the
/// guest cart, minting one (and setting its cookie and `X-Cart-Id`) when there is none yet.
pub(crate) fn cart_ref(ctx: &Context<'_>) -> async_graphql::Result<(CartRef, Option<String>)> {
    let viewer = viewer(ctx)?;
    match &viewer.auth {
        viewer::Auth::Verified { claims, bearer } => Ok((
            CartRef {
                key: Some(cart_ref::Key::UserId(claims.sub.clone())),
            },
            Some(bearer.clone()),
        )),
        // A bad token must not silently fall back to a guest cart: the client would think
        // the user's cart was emptied.
        viewer::Auth::Invalid => Err(crate::errors::unauthenticated()),
        viewer::Auth::Anonymous => {
            let id = match &viewer.guest_cart {
                Some(id) => id.clone(),
                None => minted_cart(ctx),
            };
            Ok((
                CartRef {
                    key: Some(cart_ref::Key::GuestCartId(id)),
                },
                None,
            ))
        }
    }
}

fn minted_cart(ctx: &Context<'_>) -> String {
    let slot = ctx.data_opt::<MintedCart>();
    let existing = slot.and_then(|slot| slot.0.lock().ok().and_then(|minted| minted.clone()));
    if let Some(id) = existing {
        return id;
    }
    let id = viewer::new_cart_id();
    if let Some(slot) = slot
        && let Ok(mut minted) = slot.0.lock()
    {
        *minted = Some(id.clone());
    }
    let secure = ctx
        .data_opt::<CookieSecure>()
        .is_some_and(|secure| secure.0);
    ctx.append_http_header(http::header::SET_COOKIE, viewer::cart_cookie(&id, secure));
    ctx.insert_http_header(viewer::CART_HEADER, id.as_str());
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_schema_matches_the_code() {
        let committed = include_str!("../../schema.graphql");
        let current = super::schema_sdl();
        assert!(
            committed == current,
            "bff/schema.graphql is out of date: run `cargo run -p shop-bff -- --print-schema > bff/schema.graphql`"
        );
    }
}
