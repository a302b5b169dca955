//! The request stream of client- and bidi-streaming bindings (`runtime/src/stream/`: `split.rs`,
//! `request.rs`): the splitter that finds the JSON values of an NDJSON or concatenated-JSON body as
//! its bytes arrive, each value decoded and sent upstream as it completes. Never a panic; and
//! neither the messages the upstream receives nor the reply depend on how the body was cut into
//! chunks.
//!
//! Input: a count of cuts and the cuts (chunk lengths), then the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use protogate_example::proto::library::v1::Book;
use protogate_fuzz::runtime::json::ProtoJson as _;
use protogate_fuzz::runtime::stream::Decoder;
use protogate_fuzz::{Call, Input, Reply, block_on, chunked_body, chunks, gateway};

/// The call the upstream received and what the client got, for one cutting of the body.
fn stream(chunks: Vec<Bytes>) -> (Vec<Call>, Result<Bytes, String>) {
    let (gateway, upstream) = gateway();
    upstream.script(Reply::empty_ok());
    let (parts, ()) = http::Request::new(()).into_parts();
    let decoder = Decoder::json(Book::default(), |book: &mut Book, r| book.merge_json(r));
    let result = block_on(gateway.client_stream(
        "/library.v1.LibraryService/Upload",
        &parts,
        chunked_body(chunks),
        decoder,
    ));
    let result = result
        .map(|reply| reply.into_inner())
        .map_err(|e| format!("{} {}: {}", e.status(), e.code() as i32, e.message()));
    (upstream.calls(), result)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let cut_count = usize::from(input.byte() % 8);
    let cuts: Vec<u8> = (0..cut_count).map(|_| input.byte()).collect();
    let body = input.rest();
    let whole = stream(vec![Bytes::copy_from_slice(body)]);
    let cut = stream(chunks(body, &cuts));
    assert_eq!(
        whole, cut,
        "the stream depends on the body's chunk boundaries"
    );
    let (calls, result) = whole;
    if let [call] = calls.as_slice() {
        assert!(call.trailing.is_empty(), "a partial frame sent upstream");
        if result.is_ok() {
            assert!(!call.aborted, "a call that succeeded was reset");
        }
    }
});
