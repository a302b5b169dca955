//! `embedded-greeter`: the greeter as gRPC and REST/JSON on one port.
//!
//! ```sh
//! cargo run -p protogate-example-embedded -- --listen 127.0.0.1:8080
//! curl -s http://127.0.0.1:8080/v1/greeter/world          # REST/JSON
//! grpcurl -plaintext -d '{"name":"world"}' 127.0.0.1:8080 helloworld.v1.Greeter/SayHello  # gRPC (needs the proto: -import-path examples/proto -proto helloworld/v1/greeter.proto)
//! ```

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "embedded-greeter", version, about)]
struct Args {
    /// Where to listen (`host:port`), for gRPC and REST/JSON alike.
    #[arg(long, env = "EMBEDDED_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("embedded-greeter: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "embedded-greeter: gRPC and REST/JSON on {}",
        listener
            .local_addr()
            .map_or(args.listen.clone(), |a| a.to_string())
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match protogate_example_embedded::serve(listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embedded-greeter: {e}");
            ExitCode::FAILURE
        }
    }
}
