//! JSON bodies decoded into the example API's messages (`runtime/src/json.rs` and the generated
//! ProtoJSON impls). Any bytes decode or fail, never panic; and what decodes round-trips:
//! decode → encode → decode gives the same message (compared by its protobuf encoding, which
//! prost must also read back to the same bytes), and encoding that again gives the same JSON.
//!
//! Input: a byte choosing the message type, a byte of options, the JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use protogate_example::proto::google::rpc;
use protogate_example::proto::helloworld::v1 as hello;
use protogate_example::proto::library::v1 as library;
use protogate_example::runtime::json::{self, JsonOptions, ProtoJson};

fn round_trip<M: ProtoJson + Message + Default>(input: &[u8], flags: u8) {
    let read = JsonOptions {
        ignore_unknown_fields: flags & 1 != 0,
        ..JsonOptions::default()
    };
    let write = JsonOptions {
        emit_defaults: flags & 2 != 0,
        proto_names: flags & 4 != 0,
        enums_as_numbers: flags & 8 != 0,
        ..JsonOptions::default()
    };
    let mut first = M::default();
    if json::merge(&mut first, input, &read, &[]).is_err() {
        return;
    }
    let wire = first.encode_to_vec();
    let printed = json::to_vec(&first, &write, &[]).unwrap_or_else(|e| {
        panic!(
            "{:?} decodes but does not encode: {e}",
            String::from_utf8_lossy(input)
        )
    });
    let mut second = M::default();
    if let Err(e) = json::merge(&mut second, &printed, &JsonOptions::default(), &[]) {
        panic!(
            "{:?} decodes, encodes as {:?}, which does not decode: {e}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(&printed)
        );
    }
    assert_eq!(
        wire,
        second.encode_to_vec(),
        "{:?} → {:?} decodes to another message",
        String::from_utf8_lossy(input),
        String::from_utf8_lossy(&printed)
    );
    let reprinted = json::to_vec(&second, &write, &[]).expect("encodes again");
    assert_eq!(
        String::from_utf8_lossy(&printed),
        String::from_utf8_lossy(&reprinted),
        "unstable JSON for {:?}",
        String::from_utf8_lossy(input)
    );
    let decoded = M::decode(wire.as_slice()).expect("prost reads its own encoding");
    assert_eq!(
        decoded.encode_to_vec(),
        wire,
        "prost re-encodes differently"
    );
}

fuzz_target!(|data: &[u8]| {
    let mut input = protogate_fuzz::Input::new(data);
    let which = input.byte();
    let flags = input.byte();
    let body = input.rest();
    match which % 14 {
        0 => round_trip::<library::Book>(body, flags),
        1 => round_trip::<library::ListBooksRequest>(body, flags),
        2 => round_trip::<library::ListBooksResponse>(body, flags),
        3 => round_trip::<library::UpdateBookRequest>(body, flags),
        4 => round_trip::<library::CreateBookRequest>(body, flags),
        5 => round_trip::<library::BookFilter>(body, flags),
        6 => round_trip::<library::Shelf>(body, flags),
        7 => round_trip::<library::ListShelvesResponse>(body, flags),
        8 => round_trip::<library::Page>(body, flags),
        9 => round_trip::<library::Attachment>(body, flags),
        10 => round_trip::<hello::HelloRequest>(body, flags),
        11 => round_trip::<rpc::Status>(body, flags),
        12 => round_trip::<rpc::BadRequest>(body, flags),
        _ => round_trip::<rpc::ErrorInfo>(body, flags),
    }
});
