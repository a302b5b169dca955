//! Compiles bench/proto with protox (pure Rust, no `protoc`) into prost messages. The gRPC
//! service is written by hand in `src/lib.rs`: it answers with pre-encoded bytes, which the
//! generated tonic server (typed prost messages, encoded per call) cannot do.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let bench_protos = manifest_dir.join("../proto");
    let google_protos = manifest_dir.join("../../codegen/proto");

    println!("cargo:rerun-if-changed={}", bench_protos.display());
    println!("cargo:rerun-if-changed={}", google_protos.display());

    let fds = protox::compile(["bench/v1/bench.proto"], [&bench_protos, &google_protos])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
