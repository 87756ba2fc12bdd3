//! The Product service against real servers (MongoDB stand-in, RabbitMQ): its API, its
//! cached catalog pages and the search timing.

mod catalog_pages;
mod product_api;
mod search_timing;
mod support;
