//! The deployable proxy for {% for s in services %}`{{ s }}`{% if !loop.last %}, {% endif %}{% endfor %}: serves REST/JSON over HTTP/1.1 and HTTP/2
//! (h2c, or TLS with `--tls-cert`) on `--listen` and calls the gRPC upstream at `--upstream`.
//! The flags, the listener and the upstream pool are the runtime's (`runtime::cli`); this
//! crate's library brings the API. `--help` lists the flags.

/// The allocator (the `mimalloc` feature, on by default): a proxy allocates for every request,
/// and mimalloc does it in fewer instructions than the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    use {{ crate_ident }}::runtime::{cli, pool};
    cli::main(cli::Api {
        name: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        options: {{ crate_ident }}::options,
        claimed: {{ crate_ident }}::claimed,
        check: {{ crate_ident }}::check,
        router: {{ crate_ident }}::router_with_options::<pool::Pool>,
    })
}
