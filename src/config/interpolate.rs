//! `${VAR}` and `${VAR:-default}` environment interpolation over the raw configuration text.
//!
//! It runs before TOML parsing so that a variable can supply any value (a number, a list),
//! as in Vector. `$$` writes a literal `$`. A variable that is unset and has no default is an
//! error that points at its `${`.

/// An unset variable, with the byte offset of its `${` in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    pub offset: usize,
    pub message: String,
}

/// Replaces variables using `lookup` (normally `std::env::var`).
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<InterpolationError>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while let Some(pos) = memchr::memchr(b'$', &bytes[i..]) {
        let at = i + pos;
        match bytes.get(at + 1) {
            Some(b'$') => {
                out.push_str(&text[copied..=at]);
                i = at + 2;
                copied = i;
            }
            Some(b'{') => {
                let Some(close) = text[at + 2..].find('}') else {
                    errors.push(InterpolationError {
                        offset: at,
                        message: "unterminated `${`: expected `}`".to_string(),
                    });
                    break;
                };
                let inner = &text[at + 2..at + 2 + close];
                let (name, default) = match inner.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (inner, None),
                };
                let valid = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                out.push_str(&text[copied..at]);
                if !valid {
                    errors.push(InterpolationError {
                        offset: at,
                        message: format!("invalid environment variable name `{name}`"),
                    });
                } else {
                    match (lookup(name), default) {
                        (Some(v), _) => out.push_str(&v),
                        (None, Some(d)) => out.push_str(d),
                        (None, None) => errors.push(InterpolationError {
                            offset: at,
                            message: format!(
                                "environment variable `{name}` is not set (use `${{{name}:-default}}` for a default)"
                            ),
                        }),
                    }
                }
                i = at + 2 + close + 1;
                copied = i;
            }
            _ => i = at + 1,
        }
    }
    out.push_str(&text[copied..]);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("es-0".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_variables_defaults_and_escapes() {
        assert_eq!(
            interpolate("a = \"${HOST}:${PORT:-9200}\" # $$x ^end$", env).unwrap(),
            "a = \"es-0:9200\" # $x ^end$"
        );
        assert_eq!(interpolate("${EMPTY:-d}", env).unwrap(), "");
    }

    #[test]
    fn reports_unset_and_invalid_variables_with_offsets() {
        let errs = interpolate("x = 1\ny = \"${NOPE}\" ${1BAD}", env).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].offset, 11);
        assert!(errs[0].message.contains("`NOPE` is not set"));
        assert!(errs[1]
            .message
            .contains("invalid environment variable name"));
        let errs = interpolate("x = ${OPEN", env).unwrap_err();
        assert!(errs[0].message.contains("unterminated"));
    }
}
