//! `syslog` source: RFC 5424 / RFC 3164 messages over TCP (RFC 6587 framing, optional TLS)
//! or UDP, turned into ECS events.
//!
//! - `parser.rs`: the grammar of one message;
//! - `framing.rs`: splitting a TCP stream into messages;
//! - `config.rs`: what the user writes;
//! - `event.rs`: a parsed message as an event;
//! - `fields.rs`: the ECS fields of a parsed message (shared with `parse_syslog`);
//! - `source.rs`: the running TCP and UDP receivers.

pub mod config;
pub mod event;
pub mod fields;
pub mod framing;
pub mod parser;
pub mod source;

pub use config::SyslogSourceConfig;
