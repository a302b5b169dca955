#![allow(clippy::unwrap_used)]
//! One port, two protocols: a tonic client (gRPC over HTTP/2) and plain HTTP clients (REST/JSON
//! over HTTP/1.1 and h2c) call the same service on the same listener.

use protogate_example_embedded::pb::HelloRequest;
use protogate_example_embedded::pb::greeter_client::GreeterClient;
use tokio::sync::oneshot;

struct Server {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(protogate_example_embedded::serve(listener, async {
        let _ = stopped.await;
    }));
    Server {
        url,
        stop: Some(stop),
        task,
    }
}

impl Server {
    async fn shut_down(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

async fn json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

#[tokio::test]
async fn grpc_and_rest_share_one_port() {
    let server = start().await;

    // gRPC: tonic's client, HTTP/2 with `content-type: application/grpc`.
    let mut grpc = GreeterClient::connect(server.url.clone()).await.unwrap();
    let reply = grpc
        .say_hello(HelloRequest {
            name: "grpc".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "Hello grpc");
    let status = grpc.say_hello(HelloRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // REST/JSON over HTTP/1.1: the generated router, calling the same service in-process.
    let http1 = reqwest::Client::builder().http1_only().build().unwrap();
    let (status, body) = json(
        http1
            .get(format!("{}/v1/greeter/rest", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"message": "Hello rest"}))
    );

    // REST/JSON over h2c: HTTP/2 alone does not make a request gRPC, its content type does.
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = h2c
        .post(format!("{}/v1/greeter", server.url))
        .header("content-type", "application/json")
        .body(r#"{"name":"h2c"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let (status, body) = json(response).await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"message": "Hello h2c"}))
    );

    // The service's errors as REST: INVALID_ARGUMENT is a 400 with a google.rpc.Status body.
    let (status, body) = json(
        http1
            .post(format!("{}/v1/greeter", server.url))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 3, "{body}");
    assert_eq!(body["message"], "name must not be empty", "{body}");

    // A JSON request to the gRPC path, which no REST route has, is a Connect unary call.
    let (status, body) = json(
        http1
            .post(format!("{}/helloworld.v1.Greeter/SayHello", server.url))
            .header("content-type", "application/json")
            .body(r#"{"name":"x"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Hello x", "{body}");

    // gRPC keeps working on the same connection pool after the REST calls.
    let reply = grpc
        .say_hello(HelloRequest {
            name: "again".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "Hello again");

    server.shut_down().await;
}
