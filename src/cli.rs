//! The command line: `run`, `validate`, `test`, `graph`, `schema`, `replay`, and the live
//! views `top` and `tap` of a running pipeline's API.
//!
//! Exit codes (documented in `--help` and the README):
//! - 0: success (a run drained completely, a config is valid);
//! - 1: the pipeline failed while running (a component error, or the drain deadline passed),
//!   or a pipeline unit test failed;
//! - 2: wrong command-line usage;
//! - 78: the configuration is invalid (`EX_CONFIG`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::PipelineConfig;
use crate::graph::GraphFormat;
use crate::topology::Topology;

/// Exit code for an invalid configuration (sysexits.h `EX_CONFIG`).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code for a pipeline that failed while running.
pub const EXIT_RUNTIME: u8 = 1;

const EXAMPLES: &str = "\
Examples:
  logweir run -c pipelines/quickstart.toml       run a pipeline until its sources finish
  logweir run --config-dir /etc/logweir --watch  merge every *.toml there; reload on change
  logweir validate -c pipelines/kubernetes.toml  check a pipeline, print errors as FILE:LINE:COL
  logweir test -c pipelines/quickstart.toml      run the pipeline's [[tests]] on its transforms
  logweir graph -c pipelines/quickstart.toml --format mermaid
  logweir schema > logweir.schema.json          JSON Schema of the configuration (editors)
  logweir replay -c pipelines/replay.toml        replay archived objects (s3_archive source)
  logweir top --api 127.0.0.1:9598               live events/s, bytes/s, errors per component
  logweir tap --api 127.0.0.1:9598 parse --limit 20   print events leaving `parse` as NDJSON

Exit codes: 0 success, 1 the pipeline failed while running or a test failed, 2 usage error,
78 invalid configuration.";

#[derive(Debug, Parser)]
#[command(name = "logweir", version, about = "A high-throughput log pipeline", after_help = EXAMPLES)]
pub struct Cli {
    /// Format of logweir's own logs on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Level of logweir's own logs (overridden by the LOGWEIR_LOG environment variable, which
    /// takes tracing filter directives such as `info,logweir::sinks=debug`).
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the pipeline configuration comes from: files and directories, merged into one graph.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// A pipeline file; may be given more than once.
    #[arg(short, long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// A directory whose `*.toml` files (sorted by name) are loaded; may be given more than
    /// once.
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dir: Vec<PathBuf>,
}

impl ConfigArgs {
    /// `a.toml, b.toml` for messages.
    fn describe(&self) -> String {
        self.config
            .iter()
            .chain(&self.config_dir)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn load(&self) -> Result<PipelineConfig, crate::config::ConfigErrors> {
        PipelineConfig::load_all(&self.config, &self.config_dir)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline until its sources finish or SIGINT/SIGTERM. SIGHUP reloads the
    /// configuration: only changed components are rebuilt.
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        /// After SIGINT/SIGTERM, how long in-flight events may take to reach the sinks.
        #[arg(long, default_value_t = 30)]
        drain_timeout_secs: u64,
        /// Reload when a configuration file changes (also the symlink swap of a Kubernetes
        /// ConfigMap volume).
        #[arg(long)]
        watch: bool,
    },
    /// Run a pipeline reading an S3 archive (an `s3_archive` source) with a progress bar.
    Replay {
        /// The pipeline; at least one source must be of type `s3_archive`.
        #[command(flatten)]
        config: ConfigArgs,
        /// After SIGINT/SIGTERM, how long in-flight events may take to reach the sinks.
        #[arg(long, default_value_t = 30)]
        drain_timeout_secs: u64,
    },
    /// Check a pipeline and report every error with FILE:LINE:COL, and warnings about what
    /// is valid but likely wrong.
    Validate {
        #[command(flatten)]
        config: ConfigArgs,
        /// Fail (exit 78) when there are warnings.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Run the pipeline's `[[tests]]`: feed their events through the transforms only (no
    /// sources, no sinks) and check the outputs; prints a diff for each failure.
    Test {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the pipeline graph.
    Graph {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Print the JSON Schema of the configuration (for editors; committed at
    /// `pipelines/schema/logweir.schema.json`).
    Schema,
    /// Live table of every component's events/s, bytes/s, errors and buffer fill, from the
    /// `/metrics` of a running logweir (q to quit).
    Top {
        /// Address of the running pipeline's `[api]`.
        #[arg(long, default_value = "127.0.0.1:9598")]
        api: String,
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval_secs: f64,
    },
    /// Print the events leaving a source or transform of a running pipeline, as NDJSON on
    /// standard output (sampled; the pipeline is not slowed down).
    Tap {
        /// Address of the running pipeline's `[api]`.
        #[arg(long, default_value = "127.0.0.1:9598")]
        api: String,
        /// At most this many events per second.
        #[arg(long, default_value_t = crate::api::DEFAULT_TAP_RATE)]
        rate: u64,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
        /// The source or transform to tap.
        component_id: String,
    },
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = std::env::var("LOGWEIR_LOG").unwrap_or_else(|_| level.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: a DaemonSet's log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

fn load(args: &ConfigArgs) -> Result<PipelineConfig, ExitCode> {
    if args.config.is_empty() && args.config_dir.is_empty() {
        eprintln!("give the pipeline with `--config FILE` (repeatable) or `--config-dir DIR`");
        return Err(ExitCode::from(2));
    }
    args.load().map_err(|errors| {
        eprintln!("{errors}");
        eprintln!(
            "{} error{} in {}",
            errors.0.len(),
            if errors.0.len() == 1 { "" } else { "s" },
            args.describe()
        );
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log_level);
    match cli.command {
        Command::Validate {
            config: args,
            deny_warnings,
        } => match load(&args) {
            Ok(c) if !build_transforms(&c) => ExitCode::from(EXIT_CONFIG),
            Ok(c) => {
                let warnings = crate::config::lint::lint(&c);
                for w in &warnings {
                    eprintln!("{w}");
                }
                if deny_warnings && !warnings.is_empty() {
                    eprintln!(
                        "{} warning{} in {} (--deny-warnings)",
                        warnings.len(),
                        if warnings.len() == 1 { "" } else { "s" },
                        args.describe()
                    );
                    return ExitCode::from(EXIT_CONFIG);
                }
                println!(
                    "{}: ok ({} sources, {} transforms, {} sinks{})",
                    args.describe(),
                    c.sources.len(),
                    c.transforms.len(),
                    c.sinks.len(),
                    match warnings.len() {
                        0 => String::new(),
                        1 => ", 1 warning".to_string(),
                        n => format!(", {n} warnings"),
                    }
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Test { config } => match load(&config) {
            Ok(c) => run_tests(&c),
            Err(code) => code,
        },
        Command::Graph { config, format } => match load(&config) {
            Ok(c) => {
                print!("{}", crate::graph::render(&c, format));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Schema => {
            print!("{}", crate::config::schema::pipeline_schema_json());
            ExitCode::SUCCESS
        }
        Command::Top { api, interval_secs } => {
            let interval = Duration::from_secs_f64(interval_secs.clamp(0.1, 3600.0));
            match crate::top::run(&api, interval) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("logweir top: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        Command::Tap {
            api,
            rate,
            limit,
            component_id,
        } => match tap(&api, &component_id, rate, limit) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("logweir tap: {e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        },
        Command::Run {
            config: args,
            drain_timeout_secs,
            watch,
        } => {
            let config = match load(&args) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let runtime = match runtime() {
                Ok(r) => r,
                Err(code) => return code,
            };
            runtime.block_on(run(
                config,
                args,
                watch,
                Duration::from_secs(drain_timeout_secs),
            ))
        }
        Command::Replay {
            config: args,
            drain_timeout_secs,
        } => {
            let config = match load(&args) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if !crate::replay::has_archive_source(&config) {
                eprintln!(
                    "{}: `logweir replay` needs a source of type `s3_archive`",
                    args.describe()
                );
                return ExitCode::from(EXIT_CONFIG);
            }
            let runtime = match runtime() {
                Ok(r) => r,
                Err(code) => return code,
            };
            runtime.block_on(async move {
                let progress = crate::replay::ProgressDisplay::start();
                let code = run(config, args, false, Duration::from_secs(drain_timeout_secs)).await;
                progress.finish();
                code
            })
        }
    }
}

/// Builds every transform once (compiling regexes, formats, templates) so `validate` reports
/// what only building finds, located at the component. Builds have no side effects.
fn build_transforms(config: &PipelineConfig) -> bool {
    let ctx = crate::transforms::TransformContext::new(config.data_dir.clone());
    let mut errors = 0;
    for decl in &config.transforms {
        if let Err(e) = decl.config.build(&decl.id, &ctx) {
            errors += 1;
            eprintln!(
                "{}: transform `{}` ({}): {e}",
                decl.place(),
                decl.id,
                decl.type_name
            );
        }
    }
    if errors > 0 {
        eprintln!(
            "{errors} error{} in {}",
            if errors == 1 { "" } else { "s" },
            config.file.display()
        );
    }
    errors == 0
}

fn run_tests(config: &PipelineConfig) -> ExitCode {
    let file = config.file.display();
    if config.tests.is_empty() {
        println!("{file}: no tests");
        return ExitCode::SUCCESS;
    }
    let outcomes = match crate::pipeline_tests::run_all(config) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    println!(
        "running {} test{} from {file}",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" }
    );
    for o in &outcomes {
        println!(
            "test {} ... {}",
            o.name,
            if o.passed() { "ok" } else { "FAILED" }
        );
    }
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    for o in &failed {
        println!(
            "\n--- {} ({file}:{}:{})",
            o.name, o.location.line, o.location.column
        );
        for f in &o.failures {
            println!("  {f}");
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        outcomes.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("logweir-worker")
        .build()
        .map_err(|e| {
            eprintln!("cannot start the runtime: {e}");
            ExitCode::from(EXIT_RUNTIME)
        })
}

/// `logweir tap`: streams `/tap/{component_id}` to standard output.
fn tap(api: &str, component_id: &str, rate: u64, limit: Option<u64>) -> Result<(), String> {
    use std::io::Write;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let mut path = format!("/tap/{component_id}?rate={rate}");
    if let Some(limit) = limit {
        path.push_str(&format!("&limit={limit}"));
    }
    runtime.block_on(async {
        let (status, mut body) = crate::api_client::get(api, &path)
            .await
            .map_err(|e| e.to_string())?;
        if status != 200 {
            let text = http_body_util::BodyExt::collect(body)
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            return Err(format!("{api} answered {status}: {}", text.trim()));
        }
        eprintln!("tapping `{component_id}` at {api} (at most {rate} events/s)");
        let stdout = std::io::stdout();
        while let Some(chunk) = crate::api_client::next_chunk(&mut body)
            .await
            .map_err(|e| format!("{api}: {e}"))?
        {
            let mut out = stdout.lock();
            // A closed pipe (`| head`) ends the tap quietly.
            if out.write_all(&chunk).and_then(|()| out.flush()).is_err() {
                return Ok(());
            }
        }
        Ok(())
    })
}

async fn run(
    config: PipelineConfig,
    args: ConfigArgs,
    watch: bool,
    drain_deadline: Duration,
) -> ExitCode {
    let api_shutdown = tokio_util::sync::CancellationToken::new();
    let instrumentation = crate::topology::Instrumentation {
        measure_bytes: config.api.is_some(),
        ..Default::default()
    };
    if let Some(api) = &config.api {
        let state = crate::api::ApiState {
            metrics: crate::api::install_metrics_recorder(),
            readiness: instrumentation.readiness.clone(),
            taps: instrumentation.taps.clone(),
        };
        if let Err(e) = crate::api::serve(api.address, state, api_shutdown.clone()).await {
            eprintln!("{}: api: {e}", config.file.display());
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let _stop_api = api_shutdown.drop_guard();
    for w in crate::config::lint::lint(&config) {
        tracing::warn!("{w}");
    }
    // Served from the start (at 0), so a rise is visible to `increase()` and alerts.
    metrics::counter!(crate::internal_metrics::CONFIG_RELOADS).increment(0);
    metrics::counter!(crate::internal_metrics::CONFIG_RELOAD_FAILURES).increment(0);
    let mut topology = match Topology::start_with(&config, &instrumentation) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", config.file.display());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tracing::info!(
        config = %args.describe(),
        sources = config.sources.len(),
        transforms = config.transforms.len(),
        sinks = config.sinks.len(),
        "pipeline started"
    );
    let shutdown = topology.shutdown_token();
    let signals = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!(
                deadline_secs = drain_deadline.as_secs(),
                "stopping: draining in-flight events"
            );
            shutdown.cancel();
        })
    };
    // Reload requests: SIGHUP always, file changes with --watch. One pending request is
    // enough (the reload reads the files as they are then), so the channel holds one.
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel::<&'static str>(1);
    let hangups = tokio::spawn(crate::reload::forward_hangups(reload_tx.clone()));
    let _watcher = if watch {
        match crate::reload::watch(&args.config, &args.config_dir, reload_tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("cannot watch the configuration: {e}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        }
    } else {
        None
    };
    drop(reload_tx);
    let mut sinks = config.sinks.clone();
    loop {
        tokio::select! {
            more = topology.next_finished() => if !more { break },
            () = shutdown.cancelled() => break,
            Some(trigger) = reload_rx.recv() => {
                if let Some(new) = crate::reload::reload(&mut topology, &args, trigger) {
                    sinks = new.sinks;
                }
            }
        }
    }
    let report = topology.wait(drain_deadline).await;
    signals.abort();
    hangups.abort();
    // Open taps end with the pipeline.
    instrumentation.taps.close_all();
    for (id, error) in &report.failures {
        eprintln!("component `{id}` failed: {error}");
    }
    if !report.aborted.is_empty() {
        eprintln!(
            "drain deadline passed; aborted: {}",
            report.aborted.join(", ")
        );
    }
    for sink in &sinks {
        if let crate::sinks::SinkConfig::File(f) = &sink.config {
            eprintln!("output of sink `{}`: {}", sink.id, f.path);
        }
    }
    if report.is_success() {
        tracing::info!("pipeline finished");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            // Without signal handlers the pipeline still ends with its sources.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
