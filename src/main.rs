use std::process::ExitCode;

fn main() -> ExitCode {
    expediter::cli::main()
}
