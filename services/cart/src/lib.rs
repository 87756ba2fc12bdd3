//! shop-cart (in progress)
