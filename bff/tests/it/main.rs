//! The BFF end to end over real HTTP and WebSockets, with every service in this process on real
//! backends.

mod admin;
mod categories;
mod e2e;
mod support;
