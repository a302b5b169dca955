//! The `helloworld.v1.Greeter` service.

use tonic::{Request, Response, Status};

use crate::pb::helloworld::v1::{HelloReply, HelloRequest, greeter_server};

/// Greets by name; rejects an empty name so the proxy's error mapping has a case to show.
#[derive(Debug, Default, Clone, Copy)]
pub struct Greeter;

#[tonic::async_trait]
impl greeter_server::Greeter for Greeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        if name.is_empty() {
            return Err(Status::invalid_argument("name must not be empty"));
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}"),
        }))
    }
}
