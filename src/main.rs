//! The `logweir` binary: a thin wrapper over [`logweir::cli`].

fn main() -> std::process::ExitCode {
    logweir::cli::main()
}

/// Events are allocated where they are read and freed where they are delivered, on another
/// thread: jemalloc returns such memory to its thread caches in batches, where glibc's
/// allocator takes the owning arena's lock for each free.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
