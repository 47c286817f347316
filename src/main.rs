use std::process::ExitCode;

/// A cycle allocates and frees many small strings (decoded task fields, row values); mimalloc
/// does that at a fraction of the system allocator's cost and returns memory more readily.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    expediter::cli::main()
}
