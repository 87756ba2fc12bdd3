//! shop-kit: the platform every shopmesh service stands on.
//!
//! Each service is a thin layer of domain code over this crate, so that configuration,
//! telemetry, gRPC hosting (health, reflection, metrics, auth, graceful shutdown), token
//! verification, error mapping and money behave identically everywhere. A reader who knows
//! how one service is hosted knows them all.

pub mod admin;
pub mod auth;
pub mod balance;
pub mod client;
pub mod config;
pub mod error;
pub mod grpc_layer;
pub mod ids;
pub mod metrics;
pub mod money;
pub mod mongo;
pub mod mysql;
pub mod paging;
pub mod payment_method;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod sku;
pub mod telemetry;
pub mod time;
pub mod tls;

pub use error::{FieldViolations, ServiceError};
pub use ids::{GuestCartId, IdempotencyKey, OrderId, PaymentId, ProductId, UserId};
pub use money::{Currency, Money};
pub use payment_method::PaymentMethod;
pub use service::{Assembled, Service, main};
pub use sku::Sku;
