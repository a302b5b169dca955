//! Compiles the example protos with protox (pure Rust, so no `protoc` is needed)
//! and generates the prost messages plus the tonic client and server stubs.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let example_protos = manifest_dir.join("../proto");
    let google_protos = manifest_dir.join("../../codegen/proto");

    println!("cargo:rerun-if-changed={}", example_protos.display());
    println!("cargo:rerun-if-changed={}", google_protos.display());

    let fds = protox::compile(
        ["helloworld/v1/greeter.proto", "library/v1/library.proto"],
        [&example_protos, &google_protos],
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
