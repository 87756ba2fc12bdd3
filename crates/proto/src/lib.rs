//! Generated code for every shopmesh contract (`proto/shop/**`), so services and the BFF build
//! against one copy of the wire types.
//!
//! Modules mirror the protobuf packages: `shop_proto::shop::user::v1::UserServiceClient`.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/shop.rs"));

/// Encoded `FileDescriptorSet` of every contract and its imports, for gRPC server reflection
/// (grpcurl and friends resolve types from it, including the well-known types).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/shop_descriptor.bin"));

/// Encoded `FileDescriptorSet` of `google/rpc/error_details.proto`, the detail messages every
/// error carries, so reflection clients (grpcurl) can decode them.
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/google_rpc_descriptor.bin"));

/// Limits that are part of the contracts: a server enforces them, and a client that must
/// fit its requests within them (a cart priced in one batch, say) reads them from here.
pub mod limits {
    /// Most ids plus SKUs one `BatchGetProducts` request may carry (the "server caps the
    /// total number of keys" of `BatchGetProductsRequest`).
    pub const PRODUCT_BATCH_MAX: usize = 200;
}
