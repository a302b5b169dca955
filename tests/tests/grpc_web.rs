#![allow(clippy::unwrap_used)]
//! gRPC-Web on the proxy's port, as a browser client sends it (binary and base64 text, over
//! HTTP/1.1 and HTTP/2): unary and server-streaming calls reach the echo upstream, the
//! trailers come back as the body's last frame, and malformed requests get a gRPC status.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use protogate_tests::pb::{Echo, FailRequest, StreamRequest};
use protogate_tests::{Server, assert_echo_serves, echo_stack, gateway, h2c, http1, pool};

const BINARY: &str = "application/grpc-web+proto";
const TEXT: &str = "application/grpc-web-text";

/// One frame of a reply: a message, or the trailers as `name: value` pairs.
#[derive(Debug, PartialEq)]
enum WebFrame {
    Message(Vec<u8>),
    Trailers(Vec<(String, String)>),
}

fn frame(message: &impl prost::Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut frame = vec![0];
    frame.extend(u32::try_from(bytes.len()).unwrap().to_be_bytes());
    frame.extend(bytes);
    frame
}

fn frames(mut body: &[u8]) -> Vec<WebFrame> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        let payload = body[5..5 + len].to_vec();
        out.push(if body[0] & 0x80 != 0 {
            let text = String::from_utf8(payload).unwrap();
            WebFrame::Trailers(
                text.split("\r\n")
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let (k, v) = l.split_once(':').unwrap();
                        (k.to_string(), v.trim().to_string())
                    })
                    .collect(),
            )
        } else {
            WebFrame::Message(payload)
        });
        body = &body[5 + len..];
    }
    out
}

/// A gRPC-Web reply: status, headers and the frames of its body.
struct WebReply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    frames: Vec<WebFrame>,
}

impl WebReply {
    /// The call's `grpc-status`: in the trailers frame, or in the headers of a trailers-only
    /// reply.
    fn grpc_status(&self) -> (String, String) {
        let from_headers = |name: &str| {
            self.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        if let Some(code) = from_headers("grpc-status") {
            let message = from_headers("grpc-message").unwrap_or_default();
            return (code, percent_decode(&message));
        }
        let Some(WebFrame::Trailers(trailers)) = self.frames.last() else {
            panic!("no trailers: {:?}", self.frames);
        };
        let get = |name: &str| {
            trailers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        (get("grpc-status"), percent_decode(&get("grpc-message")))
    }

    fn messages<M: prost::Message + Default>(&self) -> Vec<M> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                WebFrame::Message(m) => Some(M::decode(&m[..]).unwrap()),
                WebFrame::Trailers(_) => None,
            })
            .collect()
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

async fn call(
    client: &reqwest::Client,
    proxy: &Server,
    method: &str,
    content_type: &str,
    body: Vec<u8>,
) -> WebReply {
    let text = content_type.starts_with(TEXT);
    let body = if text {
        STANDARD.encode(body).into_bytes()
    } else {
        body
    };
    let response = client
        .post(format!("{}/echo.v1.EchoService/{method}", proxy.url()))
        .header("content-type", content_type)
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = response.bytes().await.unwrap().to_vec();
    if text {
        body = STANDARD.decode(&body).unwrap();
    }
    WebReply {
        status,
        headers,
        frames: frames(&body),
    }
}

fn clients() -> [(&'static str, reqwest::Client); 2] {
    [("HTTP/1.1", http1()), ("HTTP/2", h2c())]
}

#[tokio::test]
async fn unary_calls_in_binary_and_text_over_both_versions() {
    let (proxy, _upstream) = echo_stack().await;
    for (version, client) in clients() {
        for content_type in [BINARY, TEXT, "application/grpc-web"] {
            let request = Echo {
                id: "web".to_string(),
                name: format!("{version} {content_type}"),
                ..Echo::default()
            };
            let reply = call(&client, &proxy, "Get", content_type, frame(&request)).await;
            assert_eq!(reply.status, 200, "{version} {content_type}");
            let expected_type = if content_type == TEXT {
                "application/grpc-web-text+proto"
            } else {
                BINARY
            };
            assert_eq!(reply.headers["content-type"], expected_type);
            let messages: Vec<Echo> = reply.messages();
            assert_eq!(messages.len(), 1, "{:?}", reply.frames);
            assert_eq!(messages[0].id, "web");
            assert_eq!(messages[0].name, request.name);
            assert_eq!(reply.grpc_status().0, "0", "{version} {content_type}");
            assert!(matches!(reply.frames.last(), Some(WebFrame::Trailers(_))));
        }
    }
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn server_streams_end_with_their_status_in_the_last_frame() {
    let (proxy, _upstream) = echo_stack().await;
    for (version, client) in clients() {
        for content_type in [BINARY, TEXT] {
            let request = StreamRequest {
                id: "ws".to_string(),
                count: 3,
                ..StreamRequest::default()
            };
            let reply = call(&client, &proxy, "Stream", content_type, frame(&request)).await;
            let messages: Vec<protogate_tests::pb::StreamReply> = reply.messages();
            assert_eq!(messages.len(), 3, "{version} {content_type}");
            assert_eq!(reply.grpc_status().0, "0");

            let failing = StreamRequest {
                id: "wf".to_string(),
                count: 3,
                fail_code: 10,
                fail_after: 1,
                ..StreamRequest::default()
            };
            let reply = call(&client, &proxy, "Stream", content_type, frame(&failing)).await;
            let messages: Vec<protogate_tests::pb::StreamReply> = reply.messages();
            assert_eq!(messages.len(), 1, "{version} {content_type}");
            assert_eq!(reply.grpc_status().0, "10", "{:?}", reply.frames);
        }
    }
}

/// A JSON message as a gRPC-Web frame.
fn json_frame(json: &str) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend(u32::try_from(json.len()).unwrap().to_be_bytes());
    frame.extend(json.as_bytes());
    frame
}

#[tokio::test]
async fn json_messages_are_protojson_both_ways() {
    let (proxy, _upstream) = echo_stack().await;
    for content_type in [
        "application/grpc-web+json",
        "application/grpc-web-text+json",
    ] {
        let body = json_frame(r#"{"id":"wj","genre":"GENRE_POETRY","nums":[7]}"#);
        let reply = call(&http1(), &proxy, "Get", content_type, body).await;
        assert_eq!(reply.status, 200);
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .ends_with("+json")
        );
        let WebFrame::Message(message) = &reply.frames[0] else {
            panic!("{:?}", reply.frames);
        };
        let json: serde_json::Value = serde_json::from_slice(message).unwrap();
        assert_eq!(json["id"], "wj", "{json}");
        assert_eq!(json["genre"], "GENRE_POETRY", "{json}");
        assert_eq!(reply.grpc_status().0, "0");

        let body = json_frame(r#"{"id":"wjs","count":2}"#);
        let reply = call(&http1(), &proxy, "Stream", content_type, body).await;
        assert_eq!(reply.frames.len(), 3, "{:?}", reply.frames);
        assert_eq!(reply.grpc_status().0, "0");

        // JSON that is not the request message's: INVALID_ARGUMENT, before any call.
        let body = json_frame(r#"{"id":5}"#);
        let reply = call(&http1(), &proxy, "Get", content_type, body).await;
        let (code, message) = reply.grpc_status();
        assert_eq!(code, "3", "{message}");
        assert!(message.contains("invalid JSON body"), "{message}");
    }
}

#[tokio::test]
async fn errors_are_grpc_statuses() {
    let (proxy, _upstream) = echo_stack().await;
    let client = http1();
    let fail = FailRequest {
        code: 5,
        message: "no such shelf: ünïcode".to_string(),
    };
    let reply = call(&client, &proxy, "Fail", BINARY, frame(&fail)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.grpc_status(),
        ("5".to_string(), "no such shelf: ünïcode".to_string())
    );

    // The proxy's own answers to bad requests, each a status, the proxy serving on.
    let echo = frame(&Echo::default());
    let mut short = frame(&Echo {
        id: "x".to_string(),
        ..Echo::default()
    });
    short.pop();
    let mut two = echo.clone();
    two.extend(&echo);
    let cases: [(&str, &str, Vec<u8>, &str, &str); 6] = [
        (
            "Get",
            BINARY,
            short,
            "3",
            "announces 3 bytes of message, the body carries 2",
        ),
        ("Get", BINARY, two, "3", "exactly one message"),
        ("Get", BINARY, vec![0, 0], "3", "5-byte prefix"),
        ("Get", BINARY, vec![1, 0, 0, 0, 0], "3", "compressed"),
        ("Nope", BINARY, echo.clone(), "12", "unknown method"),
        (
            "Get",
            BINARY,
            vec![0; 5 << 20],
            "8",
            "larger than the limit",
        ),
    ];
    for (method, content_type, body, code, needle) in cases {
        let reply = call(&client, &proxy, method, content_type, body).await;
        assert_eq!(reply.status, 200);
        let (got, message) = reply.grpc_status();
        assert_eq!(got, code, "{needle}: {message}");
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let response = client
        .post(format!("{}/echo.v1.EchoService/Get", proxy.url()))
        .header("content-type", TEXT)
        .body("not base64!")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["grpc-status"], "3");
    assert_echo_serves(&proxy).await;
}

#[tokio::test]
async fn browsers_may_read_the_status_and_metadata_across_origins() {
    let upstream = protogate_tests::echo_upstream_tcp().await;
    let mut options = gateway::options();
    options.cors = Some(gateway::Cors {
        allow_origins: vec!["http://app.example".to_string()],
        ..gateway::Cors::default()
    });
    let proxy = protogate_tests::serve_tcp(gateway::router_with_options(
        pool(&upstream.address),
        options,
    ))
    .await;
    let url = format!("{}/echo.v1.EchoService/Get", proxy.url());
    let preflight = http1()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-grpc-web, x-user-agent, grpc-timeout",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let allowed = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("POST"), "{allowed}");
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "content-type, x-grpc-web, x-user-agent, grpc-timeout"
    );
    let response = http1()
        .post(&url)
        .header("origin", "http://app.example")
        .header("content-type", BINARY)
        .body(frame(&FailRequest {
            code: 7,
            message: "denied".to_string(),
        }))
        .send()
        .await
        .unwrap();
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    for name in ["grpc-status", "grpc-message"] {
        assert!(exposed.contains(name), "{exposed}");
    }
}
