//! The condition language of the `filter` and `route` transforms.
//!
//! A [`Condition`] is compiled once from the text an operator writes in the configuration
//! (`condition = '.level == "error" && !exists(.debug)'`) and then checked against every
//! event. This module owns the lexer, the parser, the compiled tree and its evaluation, and
//! the [`ConditionError`] that points at the column where a condition went wrong.
//!
//! Everything that can be prepared is prepared at compile time: field paths are parsed,
//! regexes compiled, substring searchers built and RFC 3339 string literals parsed into
//! timestamps. [`Condition::check`] only walks the tree and never allocates.
//!
//! # Grammar
//!
//! ```text
//! condition  := or EOF
//! or         := and ( "||" and )*
//! and        := compare ( "&&" compare )*
//! compare    := unary ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) unary
//!                     | "=~" STRING
//!                     | "in" "[" ( literal ( "," literal )* ","? )? "]" )?
//! unary      := "!" unary | primary
//! primary    := PATH | literal | call | "(" or ")"
//! call       := "exists" "(" PATH ")"
//!             | ( "match" | "starts_with" | "ends_with" ) "(" or "," STRING ")"
//!             | "contains" "(" or "," literal ")"
//! literal    := STRING | INTEGER | FLOAT | "true" | "false" | "null"
//! PATH       := ( "." ( SEGMENT | '"' QUOTED '"' ) )+     e.g. .a.b  ."weird key"  .@timestamp
//! STRING     := '"' text with \" \\ \n \t \r escapes '"'  |  "'" raw text, no escapes "'"
//! INTEGER    := "-"? DIGITS        FLOAT := "-"? DIGITS "." DIGITS ( [eE] [+-]? DIGITS )?
//! ```
//!
//! Precedence, tightest first: `!`, comparisons (not chainable), `&&`, `||`. As in Vector's
//! VRL, `!` binds tighter than a comparison: `!.a == 1` is `(!.a) == 1`; write `!(.a == 1)`
//! or `.a != 1`. Nesting of parentheses, `!` and calls is limited to 32 levels.
//!
//! # Semantics
//!
//! - A path, literal or call used where a boolean is needed means "is truthy"
//!   ([`Value::is_truthy`]); a missing field is false.
//! - Integers and floats compare with each other (exactly, without rounding the integer);
//!   strings compare by bytes (code point order); timestamps compare with timestamps and
//!   with string literals in RFC 3339 (`.@timestamp >= "2026-01-01T00:00:00Z"`); null, bools,
//!   arrays and objects support `==`/`!=` only. Comparing incompatible kinds, or a missing
//!   field, is false for every operator except `!=`, which is always the negation of `==`.
//! - `match(.f, 're')` and `.f =~ 're'` search (use `^…$` to anchor) the text of a string
//!   field; `starts_with`, `ends_with` test a string field; `contains` searches a string for
//!   a substring or an array for an equal element; `.f in [..]` is `==` against each item.
//!   On a value of another kind (or a missing field) they are all false.

use std::cmp::Ordering;
use std::fmt;

use bytes::Bytes;
use memchr::memmem;

use crate::event::{Event, FieldPath, Object, Value};

/// Functions the language knows, for the "unknown function" message.
const FUNCTIONS: &str = "exists, match, contains, starts_with, ends_with";

/// Deepest nesting of parentheses, `!` and function calls (keeps evaluation and the parser's
/// recursion bounded whatever a configuration holds).
const MAX_DEPTH: usize = 32;

static TRUE: Value = Value::Bool(true);
static FALSE: Value = Value::Bool(false);

/// A compiled condition.
#[derive(Clone)]
pub struct Condition {
    source: String,
    root: Node,
}

/// Why a condition did not compile. `column` is 1-based and counts characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct ConditionError {
    pub column: usize,
    pub message: String,
}

impl Condition {
    /// Compiles a condition (see the module documentation for the language).
    pub fn compile(source: &str) -> Result<Condition, ConditionError> {
        let root = Parser::new(source)?.parse_condition()?;
        Ok(Condition {
            source: source.to_string(),
            root,
        })
    }

    /// Whether `event` passes. Never allocates.
    #[inline]
    pub fn check(&self, event: &Event) -> bool {
        self.root.truthy(&event.fields)
    }

    /// Whether an event with these fields passes. Never allocates.
    #[inline]
    pub fn check_fields(&self, fields: &Object) -> bool {
        self.root.truthy(fields)
    }

    /// The text the condition was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Field paths the condition reads, in order of first appearance, without duplicates.
    pub fn referenced_paths(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.root.collect_paths(&mut out);
        out
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Two conditions are equal when compiled from the same text.
impl PartialEq for Condition {
    fn eq(&self, other: &Condition) -> bool {
        self.source == other.source
    }
}

impl std::str::FromStr for Condition {
    type Err = ConditionError;

    fn from_str(s: &str) -> Result<Condition, ConditionError> {
        Condition::compile(s)
    }
}

impl schemars::JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A condition, e.g. `.level != \"debug\" && exists(.kubernetes.namespace)`: comparisons, `&&`, `||`, `!`, `exists`, `match`, `=~`, `contains`, `starts_with`, `ends_with`, `in`."
        })
    }
}

impl<'de> serde::Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Condition, D::Error> {
        let source = String::deserialize(deserializer)?;
        Condition::compile(&source).map_err(|e| {
            serde::de::Error::custom(format_args!("invalid condition `{source}`: {e}"))
        })
    }
}

impl serde::Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled tree and evaluation
// ---------------------------------------------------------------------------------------------

/// A literal, with the timestamp a string literal in RFC 3339 stands for.
#[derive(Clone, Debug)]
struct Literal {
    value: Value,
    timestamp: Option<i64>,
}

impl Literal {
    fn new(value: Value) -> Literal {
        let timestamp = match &value {
            Value::Bytes(b) => parse_timestamp_literal(b),
            _ => None,
        };
        Literal { value, timestamp }
    }

    fn operand(&self) -> Operand<'_> {
        Operand {
            value: &self.value,
            timestamp: self.timestamp,
        }
    }
}

/// `crate::time::parse_rfc3339`, limited to the years an `i64` of nanoseconds can hold
/// (about 1677 to 2262): outside them its arithmetic would overflow.
fn parse_timestamp_literal(s: &[u8]) -> Option<i64> {
    let year = std::str::from_utf8(s.get(..4)?).ok()?.parse::<u16>().ok()?;
    if !(1678..=2261).contains(&year) {
        return None;
    }
    crate::time::parse_rfc3339(s)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug)]
enum Node {
    Path(FieldPath),
    Literal(Literal),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Compare {
        op: CmpOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    In {
        value: Box<Node>,
        list: Vec<Literal>,
    },
    Exists(FieldPath),
    Match {
        value: Box<Node>,
        regex: regex::bytes::Regex,
    },
    Contains {
        value: Box<Node>,
        needle: Literal,
        /// Built when the needle is a string.
        finder: Option<Box<memmem::Finder<'static>>>,
    },
    StartsWith {
        value: Box<Node>,
        prefix: Bytes,
    },
    EndsWith {
        value: Box<Node>,
        suffix: Bytes,
    },
}

/// A value taking part in a comparison.
#[derive(Clone, Copy)]
struct Operand<'a> {
    value: &'a Value,
    /// Set for string literals in RFC 3339.
    timestamp: Option<i64>,
}

impl Operand<'_> {
    fn plain(value: &Value) -> Operand<'_> {
        Operand {
            value,
            timestamp: None,
        }
    }
}

impl Node {
    /// The node as a value; `None` for a missing field.
    fn operand<'a>(&'a self, fields: &'a Object) -> Option<Operand<'a>> {
        match self {
            Node::Path(path) => fields.get_path(path).map(Operand::plain),
            Node::Literal(lit) => Some(lit.operand()),
            _ => Some(Operand::plain(if self.truthy(fields) {
                &TRUE
            } else {
                &FALSE
            })),
        }
    }

    /// The node as a boolean.
    fn truthy(&self, fields: &Object) -> bool {
        match self {
            Node::Path(path) => fields.get_path(path).is_some_and(Value::is_truthy),
            Node::Literal(lit) => lit.value.is_truthy(),
            Node::Not(inner) => !inner.truthy(fields),
            Node::And(nodes) => nodes.iter().all(|n| n.truthy(fields)),
            Node::Or(nodes) => nodes.iter().any(|n| n.truthy(fields)),
            Node::Compare { op, lhs, rhs } => {
                if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    if let Some(same) = str_equal_undecoded(lhs, rhs, fields) {
                        return same == (*op == CmpOp::Eq);
                    }
                }
                let (Some(l), Some(r)) = (lhs.operand(fields), rhs.operand(fields)) else {
                    return *op == CmpOp::Ne;
                };
                match op {
                    CmpOp::Eq => equal(l, r),
                    CmpOp::Ne => !equal(l, r),
                    CmpOp::Lt => order(l, r) == Some(Ordering::Less),
                    CmpOp::Le => matches!(order(l, r), Some(Ordering::Less | Ordering::Equal)),
                    CmpOp::Gt => order(l, r) == Some(Ordering::Greater),
                    CmpOp::Ge => {
                        matches!(order(l, r), Some(Ordering::Greater | Ordering::Equal))
                    }
                }
            }
            Node::In { value, list } => match peek_str(value, fields) {
                // A string equals only the string literals of the list.
                Some(text) => list
                    .iter()
                    .any(|item| matches!(&item.value, Value::Bytes(s) if s == text)),
                None => value
                    .operand(fields)
                    .is_some_and(|v| list.iter().any(|item| equal(v, item.operand()))),
            },
            Node::Exists(path) => fields.get_path(path).is_some(),
            Node::Match { value, regex } => text(value, fields).is_some_and(|t| regex.is_match(t)),
            Node::Contains {
                value,
                needle,
                finder,
            } => match value.operand(fields).map(|o| o.value) {
                Some(Value::Bytes(haystack)) => {
                    finder.as_ref().is_some_and(|f| f.find(haystack).is_some())
                }
                Some(Value::Array(items)) => items
                    .iter()
                    .any(|item| equal(Operand::plain(item), needle.operand())),
                _ => false,
            },
            Node::StartsWith { value, prefix } => {
                text(value, fields).is_some_and(|t| t.starts_with(prefix))
            }
            Node::EndsWith { value, suffix } => {
                text(value, fields).is_some_and(|t| t.ends_with(suffix))
            }
        }
    }

    fn collect_paths(&self, out: &mut Vec<FieldPath>) {
        let mut add = |p: &FieldPath| {
            if !out.contains(p) {
                out.push(p.clone());
            }
        };
        match self {
            Node::Path(p) | Node::Exists(p) => add(p),
            Node::Literal(_) => {}
            Node::Not(inner) => inner.collect_paths(out),
            Node::And(nodes) | Node::Or(nodes) => {
                for n in nodes {
                    n.collect_paths(out);
                }
            }
            Node::Compare { lhs, rhs, .. } => {
                lhs.collect_paths(out);
                rhs.collect_paths(out);
            }
            Node::In { value, .. }
            | Node::Match { value, .. }
            | Node::Contains { value, .. }
            | Node::StartsWith { value, .. }
            | Node::EndsWith { value, .. } => value.collect_paths(out),
        }
    }
}

/// The bytes of a string value.
fn text<'a>(node: &'a Node, fields: &'a Object) -> Option<&'a [u8]> {
    match node.operand(fields)?.value {
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

/// `==` between two values (see the module documentation).
/// The string at a path node, read without decoding it (see [`Object::peek_str_path`]).
fn peek_str<'a>(node: &Node, fields: &'a Object) -> Option<&'a [u8]> {
    match node {
        Node::Path(path) => fields.peek_str_path(path),
        _ => None,
    }
}

/// A field compared with a string literal, answered from the field's text when it is a
/// string that needs no decoding (`.level == "error"` on a line `parse_json` kept as text):
/// the same answer as [`equal`] on the decoded value, without decoding it. `None` when the
/// fast path does not apply.
fn str_equal_undecoded(lhs: &Node, rhs: &Node, fields: &Object) -> Option<bool> {
    let (path, literal) = match (lhs, rhs) {
        (path @ Node::Path(_), Node::Literal(lit)) | (Node::Literal(lit), path @ Node::Path(_)) => {
            (path, lit)
        }
        _ => return None,
    };
    let Value::Bytes(expected) = &literal.value else {
        return None;
    };
    peek_str(path, fields).map(|text| text == expected.as_ref())
}

fn equal(a: Operand<'_>, b: Operand<'_>) -> bool {
    match (a.value, b.value) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(x, y)| equal(Operand::plain(x), Operand::plain(y)))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, xv)| {
                    y.get(k)
                        .is_some_and(|yv| equal(Operand::plain(xv), Operand::plain(yv)))
                })
        }
        _ => order(a, b) == Some(Ordering::Equal),
    }
}

/// The order of two values, when they have one.
fn order(a: Operand<'_>, b: Operand<'_>) -> Option<Ordering> {
    match (a.value, b.value) {
        (Value::Integer(x), Value::Integer(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Integer(x), Value::Float(y)) => cmp_int_float(*x, *y),
        (Value::Float(x), Value::Integer(y)) => cmp_int_float(*y, *x).map(Ordering::reverse),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Bytes(_)) => b.timestamp.map(|y| x.cmp(&y)),
        (Value::Bytes(_), Value::Timestamp(y)) => a.timestamp.map(|x| x.cmp(y)),
        _ => None,
    }
}

/// Compares an integer with a float exactly (no rounding of large integers); `None` for NaN.
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    // 2^63, exactly representable.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() {
        return None;
    }
    if f >= LIMIT {
        return Some(Ordering::Less);
    }
    if f < -LIMIT {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    // |t| < 2^63 (or t == -2^63): the cast is exact.
    match i.cmp(&(t as i64)) {
        Ordering::Equal => t.partial_cmp(&f),
        other => Some(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Path(FieldPath),
    Str(String),
    Int(i64),
    Float(f64),
    Ident,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Not,
    And,
    Or,
    Cmp(CmpOp),
    RegexMatch,
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// Byte offsets in the source.
    start: usize,
    end: usize,
}

fn column_of(src: &str, byte: usize) -> usize {
    src[..byte.min(src.len())].chars().count() + 1
}

fn is_segment_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '@'
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn error(&self, at: usize, message: impl Into<String>) -> ConditionError {
        ConditionError {
            column: column_of(self.src, at),
            message: message.into(),
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_char_at(&self, byte: usize) -> Option<char> {
        self.src.get(byte..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn next_token(&mut self) -> Result<Token, ConditionError> {
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let next = self.peek_char();
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '.' => {
                self.pos = start;
                self.lex_path()?
            }
            '"' => Tok::Str(self.lex_quoted(start)?),
            '\'' => Tok::Str(self.lex_raw(start)?),
            '0'..='9' => self.lex_number(start)?,
            '-' if next.is_some_and(|n| n.is_ascii_digit()) => self.lex_number(start)?,
            '&' if next == Some('&') => self.two(Tok::And),
            '|' if next == Some('|') => self.two(Tok::Or),
            '=' if next == Some('=') => self.two(Tok::Cmp(CmpOp::Eq)),
            '=' if next == Some('~') => self.two(Tok::RegexMatch),
            '!' if next == Some('=') => self.two(Tok::Cmp(CmpOp::Ne)),
            '!' => Tok::Not,
            '<' if next == Some('=') => self.two(Tok::Cmp(CmpOp::Le)),
            '<' => Tok::Cmp(CmpOp::Lt),
            '>' if next == Some('=') => self.two(Tok::Cmp(CmpOp::Ge)),
            '>' => Tok::Cmp(CmpOp::Gt),
            '&' => return Err(self.error(start, "unexpected `&` (use `&&`)")),
            '|' => return Err(self.error(start, "unexpected `|` (use `||`)")),
            '=' => return Err(self.error(start, "unexpected `=` (use `==` to compare)")),
            c if c.is_alphabetic() || c == '_' => {
                while self
                    .peek_char()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                {
                    self.bump();
                }
                Tok::Ident
            }
            c => return Err(self.error(start, format!("unexpected character `{c}`"))),
        };
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    fn two(&mut self, tok: Tok) -> Tok {
        self.bump();
        tok
    }

    /// A field path: one or more `.segment` / `."quoted segment"`.
    fn lex_path(&mut self) -> Result<Tok, ConditionError> {
        let start = self.pos;
        while self.peek_char() == Some('.') {
            let dot = self.pos;
            self.bump();
            match self.peek_char() {
                Some('"') => {
                    let quote = self.pos;
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(self.error(quote, "unterminated quoted field name")),
                            Some('"') => break,
                            Some('\\') => {
                                self.bump();
                            }
                            Some(_) => {}
                        }
                    }
                }
                Some(c) if is_segment_char(c) => {
                    while self.peek_char().is_some_and(is_segment_char) {
                        self.bump();
                    }
                }
                _ => return Err(self.error(dot, "expected a field name after `.`")),
            }
        }
        let text = &self.src[start..self.pos];
        FieldPath::parse(text)
            .map(Tok::Path)
            .map_err(|e| self.error(start, format!("invalid field path: {e}")))
    }

    /// A double-quoted string with escapes; `start` is the opening quote.
    fn lex_quoted(&mut self, start: usize) -> Result<String, ConditionError> {
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.error(start, "unterminated string")),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    None => return Err(self.error(start, "unterminated string")),
                    Some(c) => return Err(self.error(at, unknown_escape(c))),
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// A single-quoted raw string; `start` is the opening quote.
    fn lex_raw(&mut self, start: usize) -> Result<String, ConditionError> {
        let body = self.pos;
        match self.src[body..].find('\'') {
            Some(len) => {
                self.pos = body + len + 1;
                Ok(self.src[body..body + len].to_string())
            }
            None => Err(self.error(start, "unterminated string")),
        }
    }

    /// An integer or float; the first character (digit or `-`) is consumed.
    fn lex_number(&mut self, start: usize) -> Result<Tok, ConditionError> {
        let digits = |lx: &mut Lexer<'_>| {
            while lx.peek_char().is_some_and(|c| c.is_ascii_digit()) {
                lx.bump();
            }
        };
        digits(self);
        let mut float = false;
        if self.peek_char() == Some('.')
            && self
                .peek_char_at(self.pos + 1)
                .is_some_and(|c| c.is_ascii_digit())
        {
            float = true;
            self.bump();
            digits(self);
        }
        if matches!(self.peek_char(), Some('e' | 'E')) {
            let mut look = self.pos + 1;
            if matches!(self.peek_char_at(look), Some('+' | '-')) {
                look += 1;
            }
            if self.peek_char_at(look).is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                self.pos = look;
                digits(self);
            }
        }
        if self
            .peek_char()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            return Err(self.error(start, "invalid number"));
        }
        let text = &self.src[start..self.pos];
        if float {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Tok::Float(f)),
                _ => Err(self.error(start, format!("number `{text}` out of range"))),
            }
        } else {
            text.parse::<i64>().map(Tok::Int).map_err(|_| {
                self.error(
                    start,
                    format!("integer `{text}` out of range (64-bit signed)"),
                )
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

struct Parser<'a> {
    lexer: Lexer<'a>,
    current: Token,
    /// The last consumed token, for "expected a value after `==`".
    previous: Option<Token>,
    depth: usize,
}

enum Function {
    Exists,
    Match,
    Contains,
    StartsWith,
    EndsWith,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Parser<'a>, ConditionError> {
        let mut lexer = Lexer { src, pos: 0 };
        let current = lexer.next_token()?;
        Ok(Parser {
            lexer,
            current,
            previous: None,
            depth: 0,
        })
    }

    fn src(&self) -> &'a str {
        self.lexer.src
    }

    fn error(&self, at: usize, message: impl Into<String>) -> ConditionError {
        self.lexer.error(at, message)
    }

    fn advance(&mut self) -> Result<Token, ConditionError> {
        let next = self.lexer.next_token()?;
        let token = std::mem::replace(&mut self.current, next);
        self.previous = Some(token.clone());
        Ok(token)
    }

    fn text(&self, token: &Token) -> &'a str {
        &self.src()[token.start..token.end]
    }

    /// How a token reads in a message.
    fn describe(&self, token: &Token) -> String {
        if token.tok == Tok::Eof {
            return "end of input".to_string();
        }
        let text = self.text(token);
        match text.char_indices().nth(24) {
            Some((cut, _)) => format!("`{}…`", &text[..cut]),
            None => format!("`{text}`"),
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                at,
                format!("condition nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn parse_condition(mut self) -> Result<Node, ConditionError> {
        if self.current.tok == Tok::Eof {
            return Err(self.error(0, "empty condition"));
        }
        let node = self.parse_or()?;
        match self.current.tok {
            Tok::Eof => Ok(node),
            Tok::RParen => Err(self.error(self.current.start, "unmatched `)`")),
            _ => Err(self.error(
                self.current.start,
                format!("trailing input {}", self.describe(&self.current)),
            )),
        }
    }

    fn parse_or(&mut self) -> Result<Node, ConditionError> {
        let first = self.parse_and()?;
        if self.current.tok != Tok::Or {
            return Ok(first);
        }
        let mut nodes = vec![first];
        while self.current.tok == Tok::Or {
            self.advance()?;
            nodes.push(self.parse_and()?);
        }
        Ok(Node::Or(nodes))
    }

    fn parse_and(&mut self) -> Result<Node, ConditionError> {
        let first = self.parse_compare()?;
        if self.current.tok != Tok::And {
            return Ok(first);
        }
        let mut nodes = vec![first];
        while self.current.tok == Tok::And {
            self.advance()?;
            nodes.push(self.parse_compare()?);
        }
        Ok(Node::And(nodes))
    }

    fn parse_compare(&mut self) -> Result<Node, ConditionError> {
        let lhs = self.parse_unary()?;
        let node = match self.current.tok.clone() {
            Tok::Cmp(op) => {
                self.advance()?;
                let rhs = self.parse_unary()?;
                Node::Compare {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                }
            }
            Tok::RegexMatch => {
                self.advance()?;
                let at = self.current.start;
                let rhs = self.parse_unary()?;
                let regex = self.regex_literal(rhs, at, "the right side of `=~`")?;
                Node::Match {
                    value: Box::new(lhs),
                    regex,
                }
            }
            Tok::Ident if self.text(&self.current) == "in" => {
                self.advance()?;
                let list = self.parse_list()?;
                Node::In {
                    value: Box::new(lhs),
                    list,
                }
            }
            _ => return Ok(lhs),
        };
        if matches!(self.current.tok, Tok::Cmp(_) | Tok::RegexMatch)
            || (self.current.tok == Tok::Ident && self.text(&self.current) == "in")
        {
            return Err(self.error(
                self.current.start,
                "comparisons cannot be chained; use `&&` or parentheses",
            ));
        }
        Ok(node)
    }

    fn parse_list(&mut self) -> Result<Vec<Literal>, ConditionError> {
        if self.current.tok != Tok::LBracket {
            return Err(self.error(
                self.current.start,
                format!(
                    "expected `[` after `in`, found {}",
                    self.describe(&self.current)
                ),
            ));
        }
        let open = self.advance()?;
        let mut list = Vec::new();
        loop {
            if self.current.tok == Tok::RBracket {
                self.advance()?;
                return Ok(list);
            }
            if self.current.tok == Tok::Eof {
                return Err(self.error(open.start, "unclosed `[`"));
            }
            match self.literal_token()? {
                Some(lit) => list.push(lit),
                None => {
                    return Err(self.error(
                        self.current.start,
                        format!(
                            "expected a literal (string, number, true, false or null) in the `in` list, found {}",
                            self.describe(&self.current)
                        ),
                    ))
                }
            }
            match self.current.tok {
                Tok::Comma => {
                    self.advance()?;
                }
                Tok::RBracket => {}
                Tok::Eof => return Err(self.error(open.start, "unclosed `[`")),
                _ => {
                    return Err(self.error(
                        self.current.start,
                        format!(
                            "expected `,` or `]` in the `in` list, found {}",
                            self.describe(&self.current)
                        ),
                    ))
                }
            }
        }
    }

    /// Consumes the current token if it is a literal.
    fn literal_token(&mut self) -> Result<Option<Literal>, ConditionError> {
        let value = match &self.current.tok {
            Tok::Str(s) => Value::Bytes(Bytes::from(s.clone())),
            Tok::Int(i) => Value::Integer(*i),
            Tok::Float(f) => Value::Float(*f),
            Tok::Ident => match self.text(&self.current) {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        self.advance()?;
        Ok(Some(Literal::new(value)))
    }

    fn parse_unary(&mut self) -> Result<Node, ConditionError> {
        if self.current.tok == Tok::Not {
            let bang = self.advance()?;
            self.enter(bang.start)?;
            let inner = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Node, ConditionError> {
        if let Some(lit) = self.literal_token()? {
            return Ok(Node::Literal(lit));
        }
        match self.current.tok.clone() {
            Tok::Path(path) => {
                self.advance()?;
                Ok(Node::Path(path))
            }
            Tok::LParen => {
                let open = self.advance()?;
                self.enter(open.start)?;
                let node = self.parse_or()?;
                self.depth -= 1;
                match self.current.tok {
                    Tok::RParen => {
                        self.advance()?;
                        Ok(node)
                    }
                    Tok::Eof => Err(self.error(open.start, "unclosed `(`")),
                    _ => Err(self.error(
                        self.current.start,
                        format!("expected `)`, found {}", self.describe(&self.current)),
                    )),
                }
            }
            Tok::Ident => self.parse_call(),
            _ => Err(self.expected_value()),
        }
    }

    fn expected_value(&self) -> ConditionError {
        let found = self.describe(&self.current);
        let message = match &self.previous {
            Some(prev) => format!(
                "expected a value after `{}`, found {found}",
                self.text(prev)
            ),
            None => format!("expected a value, found {found}"),
        };
        self.error(self.current.start, message)
    }

    fn parse_call(&mut self) -> Result<Node, ConditionError> {
        let name_token = self.current.clone();
        let name = self.text(&name_token);
        let at = name_token.start;
        let function = match name {
            "exists" => Some(Function::Exists),
            "match" => Some(Function::Match),
            "contains" => Some(Function::Contains),
            "starts_with" => Some(Function::StartsWith),
            "ends_with" => Some(Function::EndsWith),
            _ => None,
        };
        let called = self.lexer.src[name_token.end..]
            .trim_start()
            .starts_with('(');
        let function = match (function, called) {
            (Some(f), true) => f,
            (None, true) => {
                return Err(self.error(
                    at,
                    format!("unknown function `{name}` (known: {FUNCTIONS})"),
                ))
            }
            (Some(_), false) => {
                return Err(self.error(at, format!("expected `(` after `{name}`")));
            }
            (None, false) if name == "in" => return Err(self.expected_value()),
            (None, false) => {
                return Err(self.error(
                    at,
                    format!(
                        "unexpected word `{name}` (field paths start with a dot, as in `.{name}`; \
                         strings are quoted)"
                    ),
                ))
            }
        };
        self.advance()?; // name
        self.advance()?; // `(`
        self.enter(at)?;
        let mut args: Vec<(Node, usize)> = Vec::new();
        if self.current.tok != Tok::RParen {
            loop {
                let arg_at = self.current.start;
                args.push((self.parse_or()?, arg_at));
                match self.current.tok {
                    Tok::Comma => {
                        self.advance()?;
                    }
                    Tok::RParen => break,
                    Tok::Eof => {
                        return Err(self.error(at, format!("unclosed call to `{name}`")));
                    }
                    _ => {
                        return Err(self.error(
                            self.current.start,
                            format!(
                                "expected `,` or `)` in call to `{name}`, found {}",
                                self.describe(&self.current)
                            ),
                        ))
                    }
                }
            }
        }
        self.advance()?; // `)`
        self.depth -= 1;

        let wanted = match function {
            Function::Exists => 1,
            _ => 2,
        };
        let shape = match function {
            Function::Exists => "a field path",
            Function::Match => "a value and a regex string",
            Function::Contains => "a value and a literal",
            Function::StartsWith => "a value and a prefix string",
            Function::EndsWith => "a value and a suffix string",
        };
        let arity_error = self.error(
            at,
            format!(
                "`{name}` takes {wanted} argument{} ({shape}), found {}",
                if wanted == 1 { "" } else { "s" },
                args.len()
            ),
        );
        if args.len() != wanted {
            return Err(arity_error);
        }
        let mut args = args.into_iter();
        let (Some((first, first_at)), second) = (args.next(), args.next()) else {
            return Err(arity_error);
        };
        let value = Box::new(first);
        Ok(match function {
            Function::Exists => match *value {
                Node::Path(path) => Node::Exists(path),
                _ => {
                    return Err(self.error(
                        first_at,
                        "`exists` takes a field path, such as `exists(.user.id)`",
                    ))
                }
            },
            Function::Match => {
                let Some((pattern, pattern_at)) = second else {
                    return Err(arity_error);
                };
                let regex = self.regex_literal(pattern, pattern_at, "argument 2 of `match`")?;
                Node::Match { value, regex }
            }
            Function::Contains => {
                let Some((needle, needle_at)) = second else {
                    return Err(arity_error);
                };
                let Node::Literal(needle) = needle else {
                    return Err(self.error(
                        needle_at,
                        "argument 2 of `contains` must be a literal (string, number, true, false or null)",
                    ));
                };
                let finder = match &needle.value {
                    Value::Bytes(b) => Some(Box::new(memmem::Finder::new(b.as_ref()).into_owned())),
                    _ => None,
                };
                Node::Contains {
                    value,
                    needle,
                    finder,
                }
            }
            Function::StartsWith | Function::EndsWith => {
                let Some((arg, arg_at)) = second else {
                    return Err(arity_error);
                };
                let Node::Literal(Literal {
                    value: Value::Bytes(bytes),
                    ..
                }) = arg
                else {
                    return Err(self.error(
                        arg_at,
                        format!("argument 2 of `{name}` must be a string literal"),
                    ));
                };
                if matches!(function, Function::StartsWith) {
                    Node::StartsWith {
                        value,
                        prefix: bytes,
                    }
                } else {
                    Node::EndsWith {
                        value,
                        suffix: bytes,
                    }
                }
            }
        })
    }

    /// Compiles a regex from a string-literal node that started at byte `at`.
    fn regex_literal(
        &self,
        node: Node,
        at: usize,
        what: &str,
    ) -> Result<regex::bytes::Regex, ConditionError> {
        let pattern = match &node {
            Node::Literal(Literal {
                value: Value::Bytes(b),
                ..
            }) => std::str::from_utf8(b).unwrap_or_default(),
            _ => {
                return Err(self.error(
                    at,
                    format!("{what} must be a regex string literal, such as 'ab+c'"),
                ))
            }
        };
        regex::bytes::Regex::new(pattern).map_err(|e| {
            self.error(
                at,
                format!("invalid regex `{pattern}`: {}", regex_error_summary(&e)),
            )
        })
    }
}

fn unknown_escape(c: char) -> String {
    format!(
        r#"unknown escape `\{c}` in string (supported: \" \\ \n \t \r; use single quotes for raw text such as regexes)"#
    )
}

/// The one-line reason of a regex error (its `Display` spans several lines).
fn regex_error_summary(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or_else(|| text.lines().last().unwrap_or("syntax error"))
            .to_string(),
        regex::Error::CompiledTooBig(limit) => {
            format!("compiled regex exceeds the size limit of {limit} bytes")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(fields: serde_json::Value) -> Event {
        Event::from_json(&fields, 0)
    }

    fn check(source: &str, fields: serde_json::Value) -> bool {
        let condition =
            Condition::compile(source).unwrap_or_else(|e| panic!("`{source}` should compile: {e}"));
        // A root `@timestamp` is typed in an event, never left in text form.
        let text = (fields.is_object() && fields.get(crate::event::TIMESTAMP).is_none())
            .then(|| serde_json::to_vec(&fields).unwrap());
        let event = event(fields);
        let result = condition.check(&event);
        assert_eq!(result, condition.check_fields(&event.fields), "{source}");
        // The same fields in text form (as `parse_json` keeps a line), where string
        // comparisons read the text without decoding it, give the same answer.
        if let Some(text) = text {
            let raw = crate::codec::raw_json::RawObject::new_validated(text.into());
            let text_form = Object::from_raw(raw);
            assert_eq!(
                result,
                condition.check_fields(&text_form),
                "{source} on fields in text form"
            );
        }
        result
    }

    fn error(source: &str) -> ConditionError {
        match Condition::compile(source) {
            Ok(_) => panic!("`{source}` should not compile"),
            Err(e) => e,
        }
    }

    /// Asserts the error's column and that its message contains `needle`.
    fn assert_error(source: &str, column: usize, needle: &str) {
        let e = error(source);
        assert_eq!(e.column, column, "column for `{source}`: {e}");
        assert!(
            e.message.contains(needle),
            "message for `{source}` should contain `{needle}`: {e}"
        );
    }

    #[test]
    fn equality_on_strings_numbers_bools_and_null() {
        let fields = json!({"level": "error", "n": 3, "ok": true, "nothing": null});
        assert!(check(r#".level == "error""#, fields.clone()));
        assert!(!check(r#".level == "warn""#, fields.clone()));
        assert!(check(r#".level != "warn""#, fields.clone()));
        assert!(!check(r#".level != "error""#, fields.clone()));
        assert!(check(".n == 3", fields.clone()));
        assert!(check(".ok == true", fields.clone()));
        assert!(check(".ok != false", fields.clone()));
        assert!(check(".nothing == null", fields.clone()));
        assert!(check("null == null", fields.clone()));
        // Incompatible kinds: `==` false, `!=` true.
        assert!(!check(r#".n == "3""#, fields.clone()));
        assert!(check(r#".n != "3""#, fields.clone()));
        assert!(!check(".ok == 1", fields.clone()));
        assert!(!check(".nothing == false", fields.clone()));
        // Literal on the left, and field against field.
        assert!(check(r#""error" == .level"#, fields.clone()));
        assert!(check(".n == .n", fields));
    }

    #[test]
    fn ordering_operators() {
        let fields = json!({"n": 5, "s": "m"});
        for (source, expected) in [
            (".n < 6", true),
            (".n < 5", false),
            (".n <= 5", true),
            (".n <= 4", false),
            (".n > 4", true),
            (".n > 5", false),
            (".n >= 5", true),
            (".n >= 6", false),
            (".n > -10", true),
            (r#".s < "n""#, true),
            (r#".s > "l""#, true),
            (r#".s >= "m""#, true),
            (r#".s <= "ma""#, true),
            (r#".s > "ma""#, false),
            // Ordering across kinds, or on bools and null, is false.
            (r#".n < "9""#, false),
            (r#".n >= "0""#, false),
            ("true > false", false),
            ("null <= null", false),
        ] {
            assert_eq!(check(source, fields.clone()), expected, "{source}");
        }
    }

    #[test]
    fn integers_and_floats_compare_exactly() {
        let fields = json!({"i": 2, "f": 2.5, "big": 9_007_199_254_740_993_i64});
        assert!(check(".i == 2.0", fields.clone()));
        assert!(check(".i < 2.5", fields.clone()));
        assert!(check(".f > 2", fields.clone()));
        assert!(check(".f == 2.5", fields.clone()));
        assert!(check(".f < 3", fields.clone()));
        assert!(check(".i < .f", fields.clone()));
        assert!(check(".f > .i", fields.clone()));
        assert!(check("-1 > -1.5", fields.clone()));
        assert!(check("-2 < -1.5", fields.clone()));
        assert!(check(".f == 25e-1", fields.clone()));
        // 2^53 + 1 is not the float 2^53, though `as f64` would round it to that.
        assert!(!check(".big == 9007199254740992.0", fields.clone()));
        assert!(check(".big > 9007199254740992.0", fields.clone()));
        assert!(check("9223372036854775807 < 9.3e18", fields.clone()));
        assert!(check("-9223372036854775808 > -9.3e18", fields.clone()));
        assert!(check(
            "-9223372036854775808 == -9223372036854775808.0",
            fields
        ));

        let mut nan = Object::new();
        nan.insert("x", Value::Float(f64::NAN));
        for (source, expected) in [
            (".x == 1", false),
            (".x < 1", false),
            (".x >= 1.0", false),
            (".x != 1", true),
            (".x == .x", false),
        ] {
            let c = Condition::compile(source).unwrap();
            assert_eq!(c.check_fields(&nan), expected, "{source}");
        }
    }

    #[test]
    fn timestamps_compare_with_timestamps_and_rfc3339_literals() {
        let fields = json!({
            "@timestamp": "2026-11-24T10:00:00Z",
            "text": "2026-11-24T10:00:00Z",
            "n": 5,
        });
        for (source, expected) in [
            (r#".@timestamp == "2026-11-24T10:00:00Z""#, true),
            (r#".@timestamp == "2026-11-24T11:00:00+01:00""#, true),
            (r#".@timestamp == "2026-11-24T10:00:00.000000001Z""#, false),
            (r#".@timestamp < "2026-11-24T10:00:00.000000001Z""#, true),
            (r#".@timestamp >= "2026-01-01T00:00:00Z""#, true),
            (r#".@timestamp > "2027-01-01T00:00:00Z""#, false),
            (r#"."@timestamp" <= "2026-11-24T10:00:00Z""#, true),
            (r#""2025-12-31T23:59:59Z" < .@timestamp"#, true),
            (".@timestamp == .@timestamp", true),
            // Not a timestamp literal: no comparison.
            (r#".@timestamp == "yesterday""#, false),
            (r#".@timestamp < "2026-11-24""#, false),
            (r#".@timestamp != "yesterday""#, true),
            // Years an i64 of nanoseconds cannot hold are not timestamps (and do not panic).
            (r#".@timestamp < "9999-01-01T00:00:00Z""#, false),
            // Timestamps do not compare with numbers.
            (".@timestamp > 0", false),
            (".@timestamp > .n", false),
            // A string field holding a date is a string: compared as text.
            (r#".text == "2026-11-24T10:00:00Z""#, true),
            (r#".text == "2026-11-24T11:00:00+01:00""#, false),
            // Timestamps are truthy.
            (".@timestamp", true),
        ] {
            assert_eq!(check(source, fields.clone()), expected, "{source}");
        }

        let mut two = Object::new();
        two.insert("a", Value::Timestamp(1));
        two.insert("b", Value::Timestamp(2));
        let c = Condition::compile(".a < .b && .b > .a && .a != .b").unwrap();
        assert!(c.check_fields(&two));
    }

    #[test]
    fn missing_fields_are_false_except_for_not_equal() {
        let fields = json!({"a": 1});
        for (source, expected) in [
            (".missing == 1", false),
            (".missing == null", false),
            (".missing < 1", false),
            (".missing >= 1", false),
            (".missing != 1", true),
            (".missing != null", true),
            (".missing", false),
            ("!.missing", true),
            (".missing == .missing", false),
            (".a.b == 1", false),
            (".missing in [1, null]", false),
            ("match(.missing, '')", false),
            (r#"contains(.missing, "")"#, false),
            (r#"starts_with(.missing, "")"#, false),
            (r#"ends_with(.missing, "")"#, false),
            ("exists(.missing)", false),
        ] {
            assert_eq!(check(source, fields.clone()), expected, "{source}");
        }
    }

    #[test]
    fn nested_and_quoted_paths() {
        let fields = json!({
            "kubernetes": {"pod": {"name": "web-1", "labels": {"app.kubernetes.io/name": "web"}}},
            "weird key": {"x": 1},
            "ünïcødé": "yes",
            "with-dash": 2,
        });
        assert!(check(r#".kubernetes.pod.name == "web-1""#, fields.clone()));
        assert!(check(
            r#".kubernetes.pod.labels."app.kubernetes.io/name" == "web""#,
            fields.clone()
        ));
        assert!(check(r#"."weird key".x == 1"#, fields.clone()));
        assert!(check(r#".ünïcødé == "yes""#, fields.clone()));
        assert!(check(".with-dash == 2", fields.clone()));
        assert!(check(
            r#"."kubernetes"."pod".name == "web-1""#,
            fields.clone()
        ));
        assert!(!check(".kubernetes.pod.name.more == 1", fields.clone()));
        // Paths end at whitespace and operators.
        assert!(check(".with-dash==2&&.kubernetes", fields));
    }

    #[test]
    fn boolean_operators_and_precedence() {
        let fields = json!({"t": true, "f": false, "n": 1});
        for (source, expected) in [
            (".t && .t", true),
            (".t && .f", false),
            (".f || .t", true),
            (".f || .f", false),
            ("!.f", true),
            ("!.t", false),
            ("!!.t", true),
            // `&&` binds tighter than `||`.
            (".t || .t && .f", true),
            ("(.t || .t) && .f", false),
            (".f && .t || .t", true),
            (".f && (.t || .t)", false),
            // Comparisons bind tighter than `&&` / `||`.
            (".n == 1 && .n != 2 || .f", true),
            (".n == 2 || .n == 1 && .t", true),
            // `!` binds tighter than comparisons: `(!.f) == true`.
            ("!.f == true", true),
            ("!.n == false", true),
            ("!(.n == 1)", false),
            ("!(.n == 2)", true),
            ("! ( .n == 2 ) && .t", true),
            ("((((.t))))", true),
            (".t && .t && .t && .f", false),
            (".f || .f || .f || .t", true),
            // Booleans from functions and comparisons compare with literals.
            ("exists(.n) == true", true),
            ("(.n == 1) != (.n == 2)", true),
        ] {
            assert_eq!(check(source, fields.clone()), expected, "{source}");
        }
    }

    #[test]
    fn bare_values_are_truthiness_checks() {
        let fields = json!({
            "zero": 0, "one": 1, "fzero": 0.0, "empty": "", "text": "x", "null": null,
            "no": false, "arr": [], "full": [1], "obj": {}, "fullobj": {"a": 1},
        });
        for (source, expected) in [
            (".zero", false),
            (".one", true),
            (".fzero", false),
            (".empty", false),
            (".text", true),
            (".null", false),
            (".no", false),
            (".arr", false),
            (".full", true),
            (".obj", false),
            (".fullobj", true),
            ("true", true),
            ("false", false),
            ("null", false),
            ("0", false),
            ("1", true),
            ("''", false),
            ("'x'", true),
        ] {
            assert_eq!(check(source, fields.clone()), expected, "{source}");
        }
    }

    #[test]
    fn in_lists() {
        let fields = json!({"level": "warn", "code": 3, "f": 2.0, "ok": true, "nothing": null});
        for (source, expected) in [
            (r#".level in ["error", "warn"]"#, true),
            (r#".level in ["error", "fatal"]"#, false),
            (r#".level in ['warn']"#, true),
            (r#".level in ["error", "warn",]"#, true),
            (".level in []", false),
            (r#".code in ["a", "b", 3]"#, true),
            (".code in [3.0]", true),
            (".f in [1, 2]", true),
            (".code in [-3, 4]", false),
            (".ok in [false, true]", true),
            (".nothing in [null]", true),
            (r#".code in ["3"]"#, false),
            (r#"!(.level in ["warn"])"#, false),
            (r#".level in ["warn"] && .code in [3]"#, true),
            ("(.code == 3) in [true]", true),
        ] {
            assert_eq!(check(source, fields.clone()), expected, "{source}");
        }
        let ts = json!({"@timestamp": "2026-11-24T10:00:00Z"});
        assert!(check(
            r#".@timestamp in ["2020-01-01T00:00:00Z", "2026-11-24T10:00:00Z"]"#,
            ts
        ));
    }

    #[test]
    fn match_and_regex_operator() {
        let fields = json!({"msg": "GET /api/v1/users 200", "n": 200, "u": "héllo wörld"});
        for (source, expected) in [
            ("match(.msg, 'api')", true),
            ("match(.msg, '^api')", false),
            ("match(.msg, '^GET ')", true),
            ("match(.msg, '200$')", true),
            ("match(.msg, '20$')", false),
            (r"match(.msg, '^GET /api/v\d+/\w+ \d{3}$')", true),
            ("match(.msg, '(?i)get')", true),
            ("match(.msg, 'get')", false),
            ("match(.n, '200')", false),
            (".msg =~ 'users'", true),
            (".msg =~ '^users'", false),
            (".msg =~ 'users' && .n == 200", true),
            ("!(.msg =~ 'users')", false),
            (r#".msg =~ "\\d{3}$""#, true),
            // Unicode-aware: `.` is one character, `\w` includes letters with accents.
            (".u =~ '^h.llo w.rld$'", true),
            (r".u =~ '^\w+ \w+$'", true),
            ("match(.u, 'wörld')", true),
        ] {
            assert_eq!(check(source, fields.clone()), expected, "{source}");
        }
    }

    #[test]
    fn contains_starts_with_ends_with() {
        let fields = json!({
            "msg": "connection refused by 日本 host",
            "tags": ["prod", "eu", 7, 1.5, null],
            "n": 17,
        });
        for (source, expected) in [
            (r#"contains(.msg, "refused")"#, true),
            (r#"contains(.msg, "Refused")"#, false),
            (r#"contains(.msg, "日本")"#, true),
            (r#"contains(.msg, "")"#, true),
            (r#"contains(.tags, "eu")"#, true),
            (r#"contains(.tags, "e")"#, false),
            ("contains(.tags, 7)", true),
            ("contains(.tags, 7.0)", true),
            ("contains(.tags, 1.5)", true),
            ("contains(.tags, null)", true),
            ("contains(.tags, 8)", false),
            ("contains(.msg, 7)", false),
            (r#"contains(.n, "1")"#, false),
            (r#"starts_with(.msg, "conn")"#, true),
            (r#"starts_with(.msg, "refused")"#, false),
            (r#"starts_with(.msg, "")"#, true),
            (r#"ends_with(.msg, "本 host")"#, true),
            (r#"ends_with(.msg, "conn")"#, false),
            (r#"starts_with(.n, "1")"#, false),
            (r#"ends_with(.tags, "eu")"#, false),
            (r#"!contains(.msg, "ok") && starts_with(.msg, 'c')"#, true),
        ] {
            assert_eq!(check(source, fields.clone()), expected, "{source}");
        }
    }

    #[test]
    fn exists_is_true_even_for_null_and_false() {
        let fields = json!({"a": null, "b": false, "c": {"d": 0}});
        assert!(check("exists(.a)", fields.clone()));
        assert!(check("exists(.b)", fields.clone()));
        assert!(check("exists(.c.d)", fields.clone()));
        assert!(check("exists( (.c) )", fields.clone()));
        assert!(!check("exists(.c.e)", fields.clone()));
        assert!(check("!exists(.z)", fields));
    }

    #[test]
    fn arrays_and_objects_compare_structurally() {
        let fields = json!({
            "a": [1, "x", {"k": 2}], "b": [1.0, "x", {"k": 2}], "c": [1, "x"],
            "o1": {"x": 1, "y": 2}, "o2": {"y": 2, "x": 1}, "o3": {"x": 1},
        });
        assert!(check(".a == .b", fields.clone()));
        assert!(!check(".a == .c", fields.clone()));
        assert!(check(".o1 == .o2", fields.clone()));
        assert!(!check(".o1 == .o3", fields.clone()));
        assert!(!check(".a < .b", fields.clone()));
        assert!(!check(".o1 == .a", fields));
    }

    #[test]
    fn string_escapes_and_raw_strings() {
        let fields = json!({
            "q": "say \"hi\"", "b": r"C:\dir", "nl": "a\nb", "tab": "a\tb", "cr": "a\rb",
            "single": "it's",
        });
        assert!(check(r#".q == "say \"hi\"""#, fields.clone()));
        assert!(check(r#".b == "C:\\dir""#, fields.clone()));
        assert!(check(r".b == 'C:\dir'", fields.clone()));
        assert!(check(r#".nl == "a\nb""#, fields.clone()));
        assert!(check(r#".tab == "a\tb""#, fields.clone()));
        assert!(check(r#".cr == "a\rb""#, fields.clone()));
        assert!(!check(r".nl == 'a\nb'", fields.clone()));
        assert!(check(r#".single == "it's""#, fields.clone()));
        assert!(check(r#".q == 'say "hi"'"#, fields));
    }

    #[test]
    fn unicode_strings() {
        let fields = json!({"city": "Zürich", "emoji": "🔥 hot", "jp": "日本語"});
        assert!(check(r#".city == "Zürich""#, fields.clone()));
        assert!(check(r#".jp == '日本語'"#, fields.clone()));
        assert!(check(r#"starts_with(.emoji, "🔥")"#, fields.clone()));
        // Byte order of UTF-8 is code point order.
        assert!(check(r#".city > "Zurich""#, fields.clone()));
        assert!(check(r#".jp > "z""#, fields.clone()));
        assert!(check(r#".city in ["Genève", "Zürich"]"#, fields));
    }

    #[test]
    fn whitespace_is_free() {
        let fields = json!({"a": 1, "b": "x"});
        assert!(check(".a==1&&.b=='x'", fields.clone()));
        assert!(check("  \t.a\n==\n1  ", fields.clone()));
        assert!(check(".a in[1]", fields.clone()));
        assert!(check("exists ( .a )", fields));
    }

    #[test]
    fn referenced_paths_in_order_without_duplicates() {
        let c = Condition::compile(
            r#".a == 1 && (exists(.b.c) || match(.a, 'x')) && ."d e" in [1] && !.f && 1 == 1"#,
        )
        .unwrap();
        let paths: Vec<String> = c.referenced_paths().iter().map(|p| p.to_string()).collect();
        assert_eq!(paths, [".a", ".b.c", r#"."d e""#, ".f"]);
        assert!(Condition::compile("true")
            .unwrap()
            .referenced_paths()
            .is_empty());
    }

    #[test]
    fn source_display_debug_and_equality() {
        let source = r#".level == "error""#;
        let c = Condition::compile(source).unwrap();
        assert_eq!(c.source(), source);
        assert_eq!(c.to_string(), source);
        assert_eq!(format!("{c:?}"), format!("Condition({source:?})"));
        assert_eq!(c, source.parse::<Condition>().unwrap());
        assert_eq!(c.clone().source(), source);
    }

    #[test]
    fn deserializes_from_config_and_serializes_back() {
        #[derive(Debug, serde::Deserialize)]
        struct Config {
            condition: Condition,
        }
        let config: Config =
            serde_json::from_value(json!({"condition": ".status >= 500"})).unwrap();
        assert!(config.condition.check(&event(json!({"status": 503}))));
        assert_eq!(
            serde_json::to_value(&config.condition).unwrap(),
            json!(".status >= 500")
        );

        let err = serde_json::from_value::<Config>(json!({"condition": ".status >= "}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid condition `.status >= `"), "{err}");
        assert!(err.contains("at column 12"), "{err}");
        assert!(serde_json::from_value::<Config>(json!({"condition": 3})).is_err());
    }

    #[test]
    fn error_display_puts_the_column_last() {
        let e = error(".a == ");
        assert_eq!(
            e.to_string(),
            "expected a value after `==`, found end of input at column 7"
        );
        assert_eq!(e.column, 7);
    }

    #[test]
    fn errors_expected_value() {
        assert_error(
            ".level == ",
            11,
            "expected a value after `==`, found end of input",
        );
        assert_error(".level == )", 11, "expected a value after `==`, found `)`");
        assert_error(".a && || .b", 7, "expected a value after `&&`, found `||`");
        assert_error(".a ||", 6, "expected a value after `||`");
        assert_error("!", 2, "expected a value after `!`");
        assert_error("== 1", 1, "expected a value, found `==`");
        assert_error(")", 1, "expected a value, found `)`");
        assert_error("in [1]", 1, "expected a value, found `in`");
        assert_error("[1]", 1, "expected a value, found `[`");
        assert_error(".a < ,", 6, "expected a value after `<`, found `,`");
    }

    #[test]
    fn errors_empty_trailing_and_unbalanced() {
        assert_error("", 1, "empty condition");
        assert_error("   ", 1, "empty condition");
        assert_error(".a == 1 .b", 9, "trailing input `.b`");
        assert_error(".a .b", 4, "trailing input");
        assert_error("true false", 6, "trailing input `false`");
        assert_error(".a == 1)", 8, "unmatched `)`");
        assert_error("(.a == 1", 1, "unclosed `(`");
        assert_error("((.a == 1)", 1, "unclosed `(`");
        assert_error("(.a == 1 .b)", 10, "expected `)`, found `.b`");
        assert_error(".a == 1 == 2", 9, "comparisons cannot be chained");
        assert_error(".a < .b =~ 'x'", 9, "comparisons cannot be chained");
        assert_error(".a == 1 in [1]", 9, "comparisons cannot be chained");
    }

    #[test]
    fn errors_operators_and_characters() {
        assert_error(".a = 1", 4, "unexpected `=` (use `==` to compare)");
        assert_error(".a & .b", 4, "use `&&`");
        assert_error(".a | .b", 4, "use `||`");
        assert_error(".a == #", 7, "unexpected character `#`");
        assert_error(".a ~ 'x'", 4, "unexpected character `~`");
        assert_error(".a == 1 - 2", 9, "unexpected character `-`");
    }

    #[test]
    fn errors_functions() {
        assert_error(
            "foo(.a)",
            1,
            "unknown function `foo` (known: exists, match, contains, starts_with, ends_with)",
        );
        assert_error(".a && bar (1)", 7, "unknown function `bar`");
        assert_error("exists .a", 1, "expected `(` after `exists`");
        assert_error("exists", 1, "expected `(` after `exists`");
        assert_error(
            r#"level == "x""#,
            1,
            "unexpected word `level` (field paths start with a dot, as in `.level`",
        );
        assert_error(r#"exists("a")"#, 8, "`exists` takes a field path");
        assert_error("exists(.a == 1)", 8, "`exists` takes a field path");
        assert_error(
            "exists()",
            1,
            "`exists` takes 1 argument (a field path), found 0",
        );
        assert_error("exists(.a, .b)", 1, "`exists` takes 1 argument");
        assert_error(
            "match(.a)",
            1,
            "`match` takes 2 arguments (a value and a regex string), found 1",
        );
        assert_error("match(.a, 'x', 'y')", 1, "found 3");
        assert_error(
            "match(.a, .b)",
            11,
            "argument 2 of `match` must be a regex string literal",
        );
        assert_error("match(.a, 3)", 11, "must be a regex string literal");
        assert_error(
            "starts_with(.a, 1)",
            17,
            "argument 2 of `starts_with` must be a string literal",
        );
        assert_error(
            "ends_with(.a, .b)",
            15,
            "argument 2 of `ends_with` must be a string literal",
        );
        assert_error(
            "contains(.a, .b)",
            14,
            "argument 2 of `contains` must be a literal",
        );
        assert_error(
            "contains(.a 'x')",
            13,
            "expected `,` or `)` in call to `contains`, found `'x'`",
        );
        assert_error("contains(.a, 'x'", 1, "unclosed call to `contains`");
        assert_error("match(, 'x')", 7, "expected a value after `(`, found `,`");
    }

    #[test]
    fn errors_regex() {
        let e = error("match(.msg, '(unclosed')");
        assert_eq!(e.column, 13, "{e}");
        assert_eq!(e.message, "invalid regex `(unclosed`: unclosed group");
        assert_error(
            ".a =~ '[z-a]'",
            7,
            "invalid regex `[z-a]`: invalid character class range",
        );
        assert_error(
            ".a =~ .b",
            7,
            "the right side of `=~` must be a regex string literal",
        );
        assert_error(
            ".a =~ 1",
            7,
            "the right side of `=~` must be a regex string literal",
        );
        assert_error(".a =~ ", 7, "expected a value after `=~`");
        let e = error(r".a =~ 'x{1000000}'");
        assert_eq!(e.column, 7, "{e}");
        assert!(e.message.starts_with("invalid regex"), "{e}");
    }

    #[test]
    fn errors_strings_and_escapes() {
        assert_error(r#".a == "abc"#, 7, "unterminated string");
        assert_error(r#".a == "abc\""#, 7, "unterminated string");
        assert_error(r#".a == "abc\"#, 7, "unterminated string");
        assert_error(".a == 'abc", 7, "unterminated string");
        assert_error(r#".a == "\d+""#, 8, r"unknown escape `\d` in string");
        let e = error(r#"match(.a, "\w")"#);
        assert!(e.message.contains("use single quotes"), "{e}");
        // Columns count characters, not bytes.
        assert_error(r#".ü == "日本" && "open"#, 15, "unterminated string");
        assert_error(r#".ü == "日本" ? "#, 12, "unexpected character `?`");
    }

    #[test]
    fn errors_numbers() {
        assert_error(
            ".a == 99999999999999999999",
            7,
            "integer `99999999999999999999` out of range",
        );
        assert_error(".a == 1e400", 7, "number `1e400` out of range");
        assert_error(".a == 12abc", 7, "invalid number");
        assert_error(".a == 1.5x", 7, "invalid number");
        // `1.` is not a float: the dot starts a path.
        assert_error(".a == 1.", 8, "expected a field name after `.`");
    }

    #[test]
    fn errors_paths() {
        assert_error(". == 1", 1, "expected a field name after `.`");
        assert_error(".a. == 1", 3, "expected a field name after `.`");
        assert_error(".a..b", 3, "expected a field name after `.`");
        assert_error(r#"."abc == 1"#, 2, "unterminated quoted field name");
        assert_error(r#".a == ."b"#, 8, "unterminated quoted field name");
        assert_error(".a$ == 1", 3, "unexpected character `$`");
    }

    #[test]
    fn errors_in_lists() {
        assert_error(r#".a in "x""#, 7, "expected `[` after `in`, found `\"x\"`");
        assert_error(".a in", 6, "expected `[` after `in`, found end of input");
        assert_error(
            ".a in [.b]",
            8,
            "expected a literal (string, number, true, false or null)",
        );
        assert_error(
            ".a in [1 2]",
            10,
            "expected `,` or `]` in the `in` list, found `2`",
        );
        assert_error(".a in [1,", 7, "unclosed `[`");
        assert_error(".a in [1", 7, "unclosed `[`");
        assert_error(".a in [,]", 8, "expected a literal");
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}.a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(check(&ok, json!({"a": true})));
        let ok = format!("{}.a", "!".repeat(MAX_DEPTH));
        assert!(check(&ok, json!({"a": true})));

        let deep = format!("{}.a{}", "(".repeat(1000), ")".repeat(1000));
        let e = error(&deep);
        assert_eq!(e.column, MAX_DEPTH + 1, "{e}");
        assert!(e.message.contains("nested too deeply"), "{e}");
        let e = error(&format!("{}.a", "!".repeat(100_000)));
        assert!(e.message.contains("nested too deeply"), "{e}");
        let e = error(&"exists(".repeat(100));
        assert!(e.message.contains("nested too deeply"), "{e}");

        // Long flat chains are fine: `&&` and `||` are n-ary, not nested.
        let long = vec![".a"; 10_000].join(" && ");
        assert!(check(&long, json!({"a": 1})));
        let long = vec![".b"; 10_000].join(" || ") + " || .a";
        assert!(check(&long, json!({"a": 1})));
    }

    #[test]
    fn is_send_sync_and_cheap_to_share() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Condition>();
        assert_send_sync::<ConditionError>();
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn fields() -> Object {
            match Value::from_json(&json!({
                "a": 1, "b": "text", "c": [1, "x"], "d": {"e": 2.5}, "t": true, "n": null,
            })) {
                Value::Object(o) => o,
                _ => unreachable!(),
            }
        }

        fn check_any(source: &str) {
            if let Ok(c) = Condition::compile(source) {
                c.check_fields(&fields());
                c.referenced_paths();
            }
        }

        proptest! {
            #[test]
            fn compile_never_panics_on_arbitrary_text(source in "\\PC{0,64}") {
                check_any(&source);
            }

            #[test]
            fn compile_never_panics_on_token_soup(
                parts in proptest::collection::vec(
                    prop_oneof![
                        Just(".a"), Just(".b"), Just(".d.e"), Just("."), Just("\""), Just("'"),
                        Just("=="), Just("!="), Just("<"), Just("<="), Just(">"), Just(">="),
                        Just("=~"), Just("&&"), Just("||"), Just("!"), Just("("), Just(")"),
                        Just("["), Just("]"), Just(","), Just("in"), Just("exists"),
                        Just("match"), Just("contains"), Just("starts_with"), Just("ends_with"),
                        Just("1"), Just("-2.5"), Just("'x'"), Just("\"y\""), Just("true"),
                        Just("null"), Just("'('"), Just("\"2026-01-01T00:00:00Z\""),
                        Just("\"9999-99-99T99:99:99Z\""), Just("\\"), Just("é"), Just(" "),
                    ],
                    0..24,
                )
            ) {
                check_any(&parts.concat());
                check_any(&parts.join(" "));
            }

            #[test]
            fn errors_point_inside_the_source(source in "[ -~]{0,40}") {
                if let Err(e) = Condition::compile(&source) {
                    prop_assert!(e.column >= 1 && e.column <= source.chars().count() + 1);
                }
            }
        }
    }
}
