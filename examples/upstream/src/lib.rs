//! The example upstream gRPC server for protogate: implements the example
//! `helloworld.v1.Greeter` and `library.v1.LibraryService` protos so the README
//! demo and the proxy's end-to-end tests have a real server to talk to.

use std::future::Future;

use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::Server;
use tonic::transport::server::Router;

mod greeter;
mod library;

pub use greeter::Greeter;
pub use library::Library;

/// Messages, clients and servers generated from the example protos.
pub mod pb {
    /// The `helloworld` protos.
    pub mod helloworld {
        /// Generated from `helloworld/v1/greeter.proto`.
        pub mod v1 {
            tonic::include_proto!("helloworld.v1");
        }
    }
    /// The `library` protos.
    pub mod library {
        /// Generated from `library/v1/library.proto`.
        pub mod v1 {
            tonic::include_proto!("library.v1");
        }
    }
}

/// Both services on one server, each call of `serve*` with a freshly seeded library, and the
/// standard `grpc.health.v1` service (reporting SERVING) for the proxy's `/readyz`.
fn router() -> Router {
    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        .add_service(health)
        .add_service(pb::helloworld::v1::greeter_server::GreeterServer::new(
            Greeter,
        ))
        .add_service(
            pb::library::v1::library_service_server::LibraryServiceServer::new(Library::new()),
        )
}

/// Serves both services on a bound TCP listener until `shutdown` completes,
/// then drains open connections. Taking a listener (not an address) lets
/// callers bind port 0 and learn the port before serving.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|stream| {
            // Without TCP_NODELAY small gRPC frames can wait on delayed ACKs;
            // failing to set it only costs latency, so it is not an error.
            let _ = stream.set_nodelay(true);
        })
    });
    router()
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Serves both services on a bound Unix socket listener until `shutdown` completes.
pub async fn serve_unix(
    listener: tokio::net::UnixListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    router()
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await
}
