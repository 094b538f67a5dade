//! A tiny hand-written JSON value and serializer (the probe must stay dependency-free).

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    /// Keys keep insertion order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// `{"error": "<strerror(errno)>"}`, the value of any field the probe could not read.
    pub fn error_errno(errno: i32) -> Json {
        Json::Obj(vec![("error".into(), Json::Str(strerror(errno)))])
    }

    pub fn error_io(e: &std::io::Error) -> Json {
        match e.raw_os_error() {
            Some(errno) => Json::error_errno(errno),
            None => Json::Obj(vec![("error".into(), Json::Str(e.to_string()))]),
        }
    }

    pub fn error_msg(msg: impl Into<String>) -> Json {
        Json::Obj(vec![("error".into(), Json::Str(msg.into()))])
    }

    pub fn from_result(r: Result<Json, std::io::Error>) -> Json {
        match r {
            Ok(v) => v,
            Err(e) => Json::error_io(&e),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Str(s) => escape_into(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_to(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    escape_into(k, out);
                    out.push(':');
                    v.write_to(out);
                }
                out.push('}');
            }
        }
    }
}

/// Appends `s` as a quoted JSON string (RFC 8259: `"` `\` and all C0 controls escaped).
pub fn escape_into(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
pub fn escape(s: &str) -> String {
    let mut out = String::new();
    escape_into(s, &mut out);
    out
}

pub fn strerror(errno: i32) -> String {
    // std formats an OS error as "<strerror> (os error N)"; keep only the libc text.
    let full = std::io::Error::from_raw_os_error(errno).to_string();
    match full.rfind(" (os error ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(escape(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(escape("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(
            escape("\u{0}\u{1f}\u{8}\u{c}\u{7f}"),
            r#""\u0000\u001f\b\f\u007f""#
        );
    }

    #[test]
    fn keeps_non_ascii_and_slashes() {
        assert_eq!(escape("/proc/ünï€😀"), "\"/proc/ünï€😀\"");
        assert_eq!(escape(""), "\"\"");
    }

    #[test]
    fn renders_nested_values() {
        let v = Json::Obj(vec![
            (
                "a".into(),
                Json::Arr(vec![Json::Int(-1), Json::Null, Json::Bool(true)]),
            ),
            ("k\"ey".into(), Json::str("v")),
            ("o".into(), Json::Obj(vec![])),
        ]);
        assert_eq!(v.render(), r#"{"a":[-1,null,true],"k\"ey":"v","o":{}}"#);
    }

    #[test]
    fn error_uses_plain_strerror() {
        let v = Json::error_errno(libc::ENOENT);
        assert_eq!(v.render(), r#"{"error":"No such file or directory"}"#);
    }
}
