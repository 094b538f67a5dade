//! /proc/self/mountinfo's text encoding, shared by the parsers in cgroups/host.rs and rootfs.rs.

/// A path field of mountinfo with the kernel's escapes undone: in a mount point it writes a
/// space, tab, newline and backslash as `\040`, `\011`, `\012` and `\134` (proc(5)), so that
/// the line still splits on spaces. Any other backslash is kept as it is.
pub fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let c = match rest.get(i..i + 4) {
            Some("\\040") => ' ',
            Some("\\011") => '\t',
            Some("\\012") => '\n',
            Some("\\134") => '\\',
            _ => {
                out.push('\\');
                rest = &rest[i + 1..];
                continue;
            }
        };
        out.push(c);
        rest = &rest[i + 4..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/run/a\040b"), "/run/a b");
        assert_eq!(unescape(r"\011tab\012nl\134bs\040"), "\ttab\nnl\\bs ");
        // An escaped backslash followed by digits is one backslash, not a second escape.
        assert_eq!(unescape(r"/x\134040"), r"/x\040");
        // Anything else stays as it is.
        assert_eq!(unescape(r"/x\041\"), r"/x\041\");
        assert_eq!(unescape(r"/x\04"), r"/x\04");
        assert_eq!(unescape("/sys/fs/cgroup"), "/sys/fs/cgroup");
    }
}
