//! The Product service against real servers (MongoDB stand-in, RabbitMQ): its API and the
//! search timing.

mod product_api;
mod search_timing;
mod support;
