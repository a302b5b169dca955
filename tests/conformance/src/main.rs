//! The testee of protobuf's conformance suite: reads `ConformanceRequest`s from stdin and answers
//! `ConformanceResponse`s on stdout, each framed by its length (4 bytes, little-endian).
//!
//! Protobuf binary goes in and out through prost, JSON through protogate's generated ProtoJSON
//! (the `ProtoJson` impls and `runtime::json`'s reader and writer). Tests with no JSON side
//! (prost's business, not protogate's), text format and JSPB are answered as skipped.
//!
//! `--emit-defaults` writes fields without presence at their defaults (the proxy's default
//! output); without it defaults are omitted, as the proto3 JSON mapping specifies.

// The router and most of the runtime are unused here, and the generated routes of this one
// catch-all service are not written for clippy's taste.
#![allow(dead_code, unused_imports, clippy::collapsible_if)]

use std::io::{self, Read, Write};
use std::process::ExitCode;

use prost::Message;

// protogate's module for the suite's messages (`build.rs`), at the crate root so that its
// private `protojson` module (the `ProtoJson` impls and the `Any` type list) is in reach.
include!(concat!(env!("OUT_DIR"), "/protogate.rs"));

use proto::conformance::{
    ConformanceRequest, ConformanceResponse, TestCategory, WireFormat, conformance_request,
    conformance_response,
};
use proto::protobuf_test_messages::{proto2::TestAllTypesProto2, proto3::TestAllTypesProto3};
use runtime::json::{self, ProtoJson};

type Outcome = conformance_response::Result;

fn main() -> ExitCode {
    // The runner passes the program's own path again before the arguments given after it.
    let mut emit_defaults = false;
    for arg in std::env::args().skip(1).filter(|a| a.starts_with('-')) {
        if arg == "--emit-defaults" {
            emit_defaults = true;
        } else {
            eprintln!("conformance-testee: unknown argument {arg:?} (only --emit-defaults)");
            return ExitCode::from(2);
        }
    }
    match serve(emit_defaults) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-testee: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Answers requests until the runner closes stdin.
fn serve(emit_defaults: bool) -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut input = Vec::new();
    let mut output = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match stdin.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        input.resize(u32::from_le_bytes(len) as usize, 0);
        stdin.read_exact(&mut input)?;
        let result = match ConformanceRequest::decode(input.as_slice()) {
            Ok(request) => answer(&request, emit_defaults),
            Err(e) => Outcome::RuntimeError(format!("malformed ConformanceRequest: {e}")),
        };
        output.clear();
        ConformanceResponse {
            result: Some(result),
        }
        .encode(&mut output)
        .map_err(io::Error::other)?;
        let len = u32::try_from(output.len()).map_err(io::Error::other)?;
        stdout.write_all(&len.to_le_bytes())?;
        stdout.write_all(&output)?;
        stdout.flush()?;
    }
}

fn answer(request: &ConformanceRequest, emit_defaults: bool) -> Outcome {
    let binary_in = matches!(
        request.payload,
        Some(conformance_request::Payload::ProtobufPayload(_))
    );
    if binary_in && request.requested_output_format == WireFormat::Protobuf as i32 {
        return Outcome::Skipped("binary in and out: protogate's ProtoJSON is under test".into());
    }
    match request.message_type.as_str() {
        "protobuf_test_messages.proto3.TestAllTypesProto3" => {
            round_trip::<TestAllTypesProto3>(request, emit_defaults)
        }
        "protobuf_test_messages.proto2.TestAllTypesProto2" => {
            round_trip::<TestAllTypesProto2>(request, emit_defaults)
        }
        other => Outcome::Skipped(format!("message type {other:?} is not under test")),
    }
}

/// Parses the payload as `M` and writes it back in the requested format.
fn round_trip<M: Message + ProtoJson + Default>(
    request: &ConformanceRequest,
    emit_defaults: bool,
) -> Outcome {
    let options = JsonOptions {
        emit_defaults,
        ignore_unknown_fields: request.test_category
            == TestCategory::JsonIgnoreUnknownParsingTest as i32,
        ..JsonOptions::default()
    };
    let types = protojson::TYPES;
    let mut message = M::default();
    match &request.payload {
        Some(conformance_request::Payload::ProtobufPayload(bytes)) => {
            if let Err(e) = message.merge(bytes.as_slice()) {
                return Outcome::ParseError(e.to_string());
            }
        }
        Some(conformance_request::Payload::JsonPayload(text)) => {
            if let Err(e) = json::merge(&mut message, text.as_bytes(), &options, types) {
                return Outcome::ParseError(e.to_string());
            }
        }
        Some(conformance_request::Payload::TextPayload(_)) => {
            return Outcome::Skipped("text format is not supported".into());
        }
        Some(conformance_request::Payload::JspbPayload(_)) => {
            return Outcome::Skipped("JSPB is not supported".into());
        }
        None => return Outcome::RuntimeError("request without a payload".into()),
    }
    match WireFormat::try_from(request.requested_output_format) {
        Ok(WireFormat::Protobuf) => Outcome::ProtobufPayload(message.encode_to_vec()),
        Ok(WireFormat::Json) => match json::to_vec(&message, &options, types) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Outcome::JsonPayload(text),
                Err(e) => Outcome::SerializeError(format!("the JSON is not UTF-8: {e}")),
            },
            Err(e) => Outcome::SerializeError(e.to_string()),
        },
        Ok(format) => Outcome::Skipped(format!("output format {format:?} is not supported")),
        Err(_) => Outcome::RuntimeError("unknown output format".into()),
    }
}
