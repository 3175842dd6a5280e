//! Sources: where events enter the pipeline.
//!
//! The registry is [`SourceConfig`]: one variant per source type, [`SourceConfig::TYPES`] for
//! the names, [`SourceConfig::parse`] (a `match` on the type name) to read a component's
//! table, and [`SourceConfig::build`] to start it. Adding a source means one module here and
//! one arm in each `match`.

pub mod demo;
pub mod file;
pub mod lines;
pub mod net;
pub mod s3_archive;
pub mod stdin;
pub mod syslog;
pub mod tcp;

use serde::Deserialize;
use toml::de::ValueDeserializer;

use crate::topology::{ComponentFuture, SourceContext};

/// The typed configuration of one source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    Stdin(stdin::StdinConfig),
    Demo(demo::DemoConfig),
    File(file::FileSourceConfig),
    Syslog(syslog::SyslogSourceConfig),
    Tcp(tcp::TcpSourceConfig),
    S3Archive(s3_archive::S3ArchiveConfig),
}

impl SourceConfig {
    /// Every source type name, as written in `type = "…"`.
    pub const TYPES: &'static [&'static str] =
        &["stdin", "demo", "file", "syslog", "tcp", "s3_archive"];

    /// Reads the component's table (without `type`) as the config of `type_name`.
    pub fn parse(
        type_name: &str,
        table: ValueDeserializer<'_>,
    ) -> Result<SourceConfig, toml::de::Error> {
        Ok(match type_name {
            "stdin" => SourceConfig::Stdin(Deserialize::deserialize(table)?),
            "demo" => SourceConfig::Demo(Deserialize::deserialize(table)?),
            "file" => SourceConfig::File(Deserialize::deserialize(table)?),
            "syslog" => SourceConfig::Syslog(Deserialize::deserialize(table)?),
            "tcp" => SourceConfig::Tcp(Deserialize::deserialize(table)?),
            "s3_archive" => SourceConfig::S3Archive(Deserialize::deserialize(table)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown source type `{other}`"
                )))
            }
        })
    }

    /// The JSON Schema of the options of `type_name` (`None` for an unknown type).
    pub fn json_schema(
        type_name: &str,
        generator: &mut schemars::SchemaGenerator,
    ) -> Option<schemars::Schema> {
        use crate::config::schema::options;
        Some(match type_name {
            "stdin" => options::<stdin::StdinConfig>(generator),
            "demo" => options::<demo::DemoConfig>(generator),
            "file" => options::<file::FileSourceConfig>(generator),
            "syslog" => options::<syslog::SyslogSourceConfig>(generator),
            "tcp" => options::<tcp::TcpSourceConfig>(generator),
            "s3_archive" => options::<s3_archive::S3ArchiveConfig>(generator),
            _ => return None,
        })
    }

    /// Why a reload cannot replace a running source configured as `running` by one
    /// configured as `self`, if it cannot. A replacement starts once the running instance
    /// has ended; these kinds cannot pick up where it stopped.
    pub fn cannot_replace(&self, running: &SourceConfig) -> Option<&'static str> {
        match (self, running) {
            (SourceConfig::Stdin(_), SourceConfig::Stdin(_)) => Some(
                "standard input cannot be handed over: input the running instance has read but not yet sent would be lost",
            ),
            (SourceConfig::S3Archive(_), SourceConfig::S3Archive(_)) => Some(
                "an s3_archive source keeps no position: a new instance would replay every object again",
            ),
            _ => None,
        }
    }

    /// The socket a network source listens on (`None` for other sources).
    pub fn listen_address(&self) -> Option<(net::Transport, std::net::SocketAddr)> {
        match self {
            SourceConfig::Tcp(c) => Some((net::Transport::Tcp, c.address)),
            SourceConfig::Syslog(c) => Some((
                match c.mode {
                    syslog::config::SyslogMode::Tcp => net::Transport::Tcp,
                    syslog::config::SyslogMode::Udp => net::Transport::Udp,
                },
                c.address,
            )),
            _ => None,
        }
    }

    /// Builds the running source.
    pub fn build(&self, ctx: SourceContext) -> Result<ComponentFuture, String> {
        match self {
            SourceConfig::Stdin(c) => c.build(ctx),
            SourceConfig::Demo(c) => c.build(ctx),
            SourceConfig::File(c) => c.build(ctx),
            SourceConfig::Syslog(c) => c.build(ctx),
            SourceConfig::Tcp(c) => c.build(ctx),
            SourceConfig::S3Archive(c) => c.build(ctx),
        }
    }
}
