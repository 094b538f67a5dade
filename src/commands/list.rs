//! `list [--format table|json] [-q]`, laid out as runc's tabwriter output.

use crate::bail;
use crate::error::Result;
use crate::state::Container;
use std::path::Path;

pub fn run(root: &Path, format: &str, quiet: bool) -> Result<()> {
    let mut ids: Vec<String> = match std::fs::read_dir(root) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect(),
        Err(_) => Vec::new(),
    };
    ids.sort();
    let containers: Vec<Container> = ids
        .iter()
        .filter_map(|id| Container::load(root, id).ok())
        .collect();
    if quiet {
        for c in &containers {
            println!("{}", c.saved.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let states: Vec<_> = containers
                .iter()
                .map(|c| c.state_json(c.status(), "root"))
                .collect();
            if states.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::to_string(&states)?);
            }
        }
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for c in &containers {
                let st = c.state_json(c.status(), "root");
                rows.push(vec![
                    st.id.to_string(),
                    st.pid.to_string(),
                    st.status.to_string(),
                    st.bundle.display().to_string(),
                    st.created.to_string(),
                    st.owner.to_string(),
                ]);
            }
            // Go's tabwriter(minwidth 12, tabwidth 1, padding 3, ' ').
            let n = rows[0].len();
            let widths: Vec<usize> = (0..n - 1)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0).max(9) + 3)
                .collect();
            for r in rows {
                let mut line = String::new();
                for (i, cell) in r.iter().enumerate() {
                    if i + 1 < n {
                        line.push_str(&format!("{cell:<w$}", w = widths[i]));
                    } else {
                        line.push_str(cell);
                    }
                }
                println!("{line}");
            }
        }
        other => bail!("--format: invalid format {other:?} (table or json)"),
    }
    Ok(())
}
