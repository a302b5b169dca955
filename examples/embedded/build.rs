//! Generates the messages, the tonic server and client (tonic-prost-build) and the REST/JSON
//! router (protogate) from one proto, `examples/proto/helloworld/v1/greeter.proto`: the
//! messages once, shared by the service and the router.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["helloworld/v1/greeter.proto"];
    let includes = ["../proto"];
    // The messages, server and client. protogate compiles the protos with the google.api
    // annotations it bundles; the router reads maps ordered.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .btree_map(".")
        .compile_fds(protogate::file_descriptor_set(&protos, &includes)?)?;
    // → $OUT_DIR/protogate.rs: `router(upstream)` over the same message types (`crate::pb`).
    protogate::configure()
        .extern_path(".helloworld.v1", "crate::pb")
        .compile(&protos, &includes)?;
    Ok(())
}
