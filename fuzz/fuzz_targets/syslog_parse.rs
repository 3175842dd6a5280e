//! Fuzz target: `parser::parse` must never panic on any bytes, for any
//! receive time / default UTC offset, and parsed fields must be consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/sources/syslog/parser.rs"]
mod parser;

fn check(input: &[u8], opts: &parser::ParseOptions) {
    if let Ok(msg) = parser::parse(input, opts) {
        assert!(msg.priority <= 191);
        assert_eq!(msg.facility, msg.priority >> 3);
        assert_eq!(msg.severity, msg.priority & 7);
        assert!(msg.message.len() <= input.len());
        assert_ne!(parser::facility_name(msg.facility), "unknown");
        assert_ne!(parser::severity_name(msg.severity), "unknown");
    }
}

fuzz_target!(|data: &[u8]| {
    // Whole input with a fixed receive time (2026-05-28T20:26:40Z, UTC).
    let fixed = parser::ParseOptions {
        now_unix_nanos: 1_780_000_000_000_000_000,
        default_utc_offset_secs: 0,
    };
    check(data, &fixed);

    // First 12 bytes choose an arbitrary receive time and offset.
    if let (Some(now), Some(offset), Some(rest)) = (data.get(..8), data.get(8..12), data.get(12..))
    {
        let opts = parser::ParseOptions {
            now_unix_nanos: i64::from_le_bytes(now.try_into().unwrap()),
            default_utc_offset_secs: i32::from_le_bytes(offset.try_into().unwrap()) % 86_400,
        };
        check(rest, &opts);
    }
});
