//! Compiles every contract under `proto/` with protox (pure Rust, so no `protoc` install is
//! needed anywhere) and generates prost messages plus tonic clients and servers.

use std::path::{Path, PathBuf};

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut files = Vec::new();
    collect_protos(&root, &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let descriptors = protox::compile(&files, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("shop_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    // google.rpc error details (BadRequest, ErrorInfo, ...) travel in every error's
    // `grpc-status-details-bin`; serving their descriptors through reflection lets grpcurl
    // print field violations instead of raw bytes. Only the descriptors: tonic-types has the
    // Rust types. Vendored from tonic-types (Apache-2.0), outside the buf module.
    let vendor = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("vendor");
    let error_details = vendor.join("google/rpc/error_details.proto");
    println!("cargo:rerun-if-changed={}", error_details.display());
    std::fs::write(
        out_dir.join("google_rpc_descriptor.bin"),
        prost::Message::encode_to_vec(&protox::compile([&error_details], [&vendor])?),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .include_file("shop.rs")
        .compile_fds(descriptors)?;
    Ok(())
}
