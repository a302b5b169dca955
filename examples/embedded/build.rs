//! Generates the REST/JSON router with protogate's build.rs API, and the tonic server and client
//! from the same proto (`examples/proto/helloworld/v1/greeter.proto`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["helloworld/v1/greeter.proto"];
    // → $OUT_DIR/protogate.rs: `router(upstream)` and the JSON mapping of the API.
    protogate::configure().compile(&protos, &["../proto"])?;

    // → the tonic service trait, server and client. protox needs the google/api protos the
    // annotations import; protogate bundles them (codegen/proto).
    let fds = protox::compile(protos, ["../proto", "../../codegen/proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=../proto");
    Ok(())
}
