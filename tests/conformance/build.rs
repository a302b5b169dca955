//! Generates protogate's module for the conformance suite's messages, from the `.proto` files of
//! the protobuf sources `run.sh` unpacks: `conformance.proto` (the runner's protocol) and
//! `google/protobuf/test_messages_proto{2,3}.proto` (the messages under test), with
//! `proto/testee.proto`, a service over them (protogate generates for an API it can serve).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=PROTOGATE_CONFORMANCE_PROTOS");
    let dir = std::env::var_os("PROTOGATE_CONFORMANCE_PROTOS")
        .map(PathBuf::from)
        .ok_or(
            "PROTOGATE_CONFORMANCE_PROTOS is not set: build this crate with tests/conformance/run.sh, \
             which unpacks the protobuf sources and points it at their .proto files",
        )?;
    let protos = [
        "testee.proto",
        "conformance.proto",
        "google/protobuf/test_messages_proto3.proto",
        "google/protobuf/test_messages_proto2.proto",
    ];
    // The output options are the proxy's defaults; the testee overrides them per run.
    protogate::configure()
        .route_unannotated_methods(true)
        .compile(&protos, &[PathBuf::from("proto"), dir])?;
    Ok(())
}
