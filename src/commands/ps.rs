//! `ps <id> [--format table|json] [PS-ARGS...]`: the processes in the container's cgroup (and its
//! sub-cgroups). json: the host pids as one JSON array (`null` when there are none), as containerd
//! reads it; table: the host's `ps` (default `-ef`) filtered to those pids, as runc does.

use crate::bail;
use crate::error::{Context, Result};
use crate::state::Container;
use std::path::Path;

pub fn run(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let c = Container::load(root, id)?;
    let pids = c.saved.cgroup.all_pids();
    match format {
        "json" => {
            if pids.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::to_string(&pids)?);
            }
            Ok(())
        }
        "table" => table(&pids, ps_args),
        other => bail!("--format: invalid format option {other:?} (table or json)"),
    }
}

fn table(pids: &[i32], ps_args: &[String]) -> Result<()> {
    let default = ["-ef".to_string()];
    let args = if ps_args.is_empty() {
        &default[..]
    } else {
        ps_args
    };
    let out = std::process::Command::new("ps")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .context("run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}: {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{}", filter(&text, pids)?);
    Ok(())
}

/// The header and the lines whose PID column is one of `pids`.
fn filter(ps_output: &str, pids: &[i32]) -> Result<String> {
    let mut lines = ps_output.lines();
    let header = lines.next().unwrap_or("");
    let Some(col) = header.split_whitespace().position(|f| f == "PID") else {
        bail!("couldn't find PID field in ps output");
    };
    let mut out = format!("{header}\n");
    for l in lines.filter(|l| !l.is_empty()) {
        let Some(p) = l.split_whitespace().nth(col) else {
            continue;
        };
        let p: i32 = p
            .parse()
            .map_err(|_| crate::error::Error::msg(format!("unable to parse pid: {p:?}")))?;
        if pids.contains(&p) {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_the_pid_column() {
        let ps = "UID        PID  PPID  C STIME TTY          TIME CMD\n\
                  root         1     0  0 10:00 ?        00:00:01 init\n\
                  root       123     1  0 10:00 ?        00:00:00 sleep 1000\n";
        assert_eq!(
            filter(ps, &[123]).ok().as_deref(),
            Some(
                "UID        PID  PPID  C STIME TTY          TIME CMD\n\
                 root       123     1  0 10:00 ?        00:00:00 sleep 1000\n"
            )
        );
        assert!(filter("USER COMMAND\n", &[1]).is_err());
    }
}
