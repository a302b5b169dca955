//! Generates the test proxy with protogate's build.rs API (the way users embed it), and the
//! tonic server for the echo upstream from the same protos.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/echo/v1/echo.proto"];
    protogate::configure().compile(&protos, &["proto"])?;

    let fds = protox::compile(protos, ["proto", "../codegen/proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
