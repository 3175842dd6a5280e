//! The `logweir` binary: a thin wrapper over [`logweir::cli`].

fn main() -> std::process::ExitCode {
    logweir::cli::main()
}
