//! Syslog: RFC 5424 / RFC 3164 parsing and RFC 6587 TCP framing.

pub mod fields;
pub mod framing;
pub mod parser;
