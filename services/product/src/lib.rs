//! shop-product (in progress)
