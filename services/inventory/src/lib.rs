//! shop-inventory (in progress)
