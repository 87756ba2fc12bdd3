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
