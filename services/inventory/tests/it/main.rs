//! The Inventory service over real gRPC against the MongoDB stand-in: stock, reservations and
//! the promises that only show under concurrency.

mod concurrency;
mod reservations_api;
mod stock_api;
mod support;
