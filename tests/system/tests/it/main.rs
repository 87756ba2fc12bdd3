//! Order, Inventory, Cart, Product and Payment (with the fake Stripe) in one process on the
//! real servers: the saga, placement, balancing and the saga measurement.

mod balance;
mod counts;
mod order;
mod saga;
mod saga_bench;
