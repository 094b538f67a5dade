//! Parsing of /proc/self/mountinfo (proc(5)).
//!
//! `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
//!  (1)(2) (3)  (4)   (5)      (6)      (7)   (8) (9)    (10)      (11)

use crate::json::Json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_id: i64,
    pub parent_id: i64,
    pub root: String,
    pub mount_point: String,
    pub mount_options: String,
    /// The optional fields, e.g. `shared:1`, `master:2`, `unbindable`.
    pub propagation: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

/// Undoes the kernel's octal escaping of space, tab, newline and backslash (`\040` ...).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if v <= 0xff {
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_line(line: &str) -> Option<MountInfo> {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-")?;
    if sep < 6 || fields.len() < sep + 3 {
        return None;
    }
    Some(MountInfo {
        mount_id: fields[0].parse().ok()?,
        parent_id: fields[1].parse().ok()?,
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        mount_options: fields[5].to_string(),
        propagation: fields[6..sep].iter().map(|s| s.to_string()).collect(),
        fstype: fields[sep + 1].to_string(),
        source: unescape(fields[sep + 2]),
        super_options: fields
            .get(sep + 3)
            .map(|s| s.to_string())
            .unwrap_or_default(),
    })
}

pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

impl MountInfo {
    pub fn to_json(&self) -> Json {
        Json::Obj(vec![
            ("mount_id".into(), Json::Int(self.mount_id)),
            ("parent_id".into(), Json::Int(self.parent_id)),
            ("root".into(), Json::str(&self.root)),
            ("mount_point".into(), Json::str(&self.mount_point)),
            ("fstype".into(), Json::str(&self.fstype)),
            ("source".into(), Json::str(&self.source)),
            ("mount_options".into(), Json::str(&self.mount_options)),
            ("super_options".into(), Json::str(&self.super_options)),
            (
                "propagation".into(),
                Json::Arr(self.propagation.iter().map(Json::str).collect()),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proc5_example() {
        let m = parse_line(
            "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!(m.mount_id, 36);
        assert_eq!(m.parent_id, 35);
        assert_eq!(m.root, "/mnt1");
        assert_eq!(m.mount_point, "/mnt2");
        assert_eq!(m.mount_options, "rw,noatime");
        assert_eq!(m.propagation, vec!["master:1".to_string()]);
        assert_eq!(m.fstype, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert_eq!(m.super_options, "rw,errors=continue");
    }

    #[test]
    fn no_optional_fields_and_several() {
        let m = parse_line("1 0 0:5 / /proc rw,nosuid - proc proc rw").unwrap();
        assert!(m.propagation.is_empty());
        let m = parse_line(
            "2 1 0:6 / /x rw shared:3 master:1 propagate_from:2 - tmpfs tmpfs rw,size=4k",
        )
        .unwrap();
        assert_eq!(
            m.propagation,
            vec!["shared:3", "master:1", "propagate_from:2"]
        );
        assert_eq!(m.super_options, "rw,size=4k");
    }

    #[test]
    fn unescapes_octal_sequences() {
        let m =
            parse_line(r"3 1 0:7 /a\040b /mnt/with\040space\011tab\134x rw - tmpfs my\040src rw")
                .unwrap();
        assert_eq!(m.root, "/a b");
        assert_eq!(m.mount_point, "/mnt/with space\ttab\\x");
        assert_eq!(m.source, "my src");
        assert_eq!(unescape(r"\0"), r"\0");
        assert_eq!(unescape(r"a\9999"), r"a\9999");
    }

    #[test]
    fn rejects_garbage_and_skips_it_in_parse() {
        assert!(parse_line("").is_none());
        assert!(parse_line("1 2 3 4 5 6").is_none());
        assert!(parse_line("x 0 0:5 / /proc rw - proc proc rw").is_none());
        let all = parse("garbage\n1 0 0:5 / /proc rw - proc proc rw\n\n");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].mount_point, "/proc");
    }

    #[test]
    fn empty_source_is_kept() {
        // overlay/none sources may be literally "none"; an empty super_options field is tolerated.
        let m = parse_line("4 1 0:8 / /y rw - tmpfs none").unwrap();
        assert_eq!(m.source, "none");
        assert_eq!(m.super_options, "");
    }
}
