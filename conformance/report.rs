//! The table: `requirement | keel | runc | note`, the failure details, the error messages each
//! runtime gave, and the totals. Returns whether the run passes (keel fails nothing unlisted and
//! every listed gap still fails).

use crate::checks::Outcome;
use crate::Requirement;
use std::collections::BTreeMap;
use std::time::Duration;

type Results = BTreeMap<String, (Outcome, Duration)>;

fn word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass(_) => "pass",
        Outcome::Fail(_) => "FAIL",
        Outcome::Skip(_) => "skip",
    }
}

fn first_line(s: &str, max: usize) -> String {
    let l = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if l.chars().count() > max {
        let cut: String = l.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        l.to_string()
    }
}

fn msg(o: &Outcome) -> &str {
    match o {
        Outcome::Pass(m) | Outcome::Fail(m) | Outcome::Skip(m) => m,
    }
}

#[derive(Default)]
struct Tally {
    pass: usize,
    fail: usize,
    skip: usize,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Pass(_) => self.pass += 1,
            Outcome::Fail(_) => self.fail += 1,
            Outcome::Skip(_) => self.skip += 1,
        }
    }
}

pub fn print(
    reqs: &[Requirement],
    gaps: &BTreeMap<String, String>,
    keel: &Results,
    runc: &Results,
    took: Duration,
) -> bool {
    let w = reqs.iter().map(|r| r.id.len()).max().unwrap_or(11).max(11) + 8;
    println!(
        "\n{:<w$} | {:<4} | {:<4} | note",
        "requirement", "keel", "runc"
    );
    println!("{}-|------|------|{}", "-".repeat(w), "-".repeat(60));
    let mut problems = Vec::new();
    let (mut tk, mut tr) = (Tally::default(), Tally::default());
    let (mut must, mut should) = (0, 0);
    let mut gap_fails = 0;
    let mut details = Vec::new();
    let mut errors_given = Vec::new();
    for r in reqs {
        if r.level == "MUST" {
            must += 1;
        } else {
            should += 1;
        }
        let k = &keel[&r.test].0;
        let c = &runc[&r.test].0;
        tk.add(k);
        tr.add(c);
        let gap = gaps.get(&r.id);
        let note = match (k, c, gap) {
            (Outcome::Fail(m), _, None) => {
                problems.push(format!("{}: keel fails: {}", r.id, first_line(m, 200)));
                format!("KEEL FAILS (not a known gap): {}", first_line(m, 90))
            }
            (Outcome::Fail(_), _, Some(reason)) => {
                gap_fails += 1;
                format!("known gap: {reason}")
            }
            (_, _, Some(_)) => {
                problems.push(format!(
                    "{}: listed in known-gaps.tsv but keel now passes: remove the entry",
                    r.id
                ));
                "keel passes a listed gap: remove it from known-gaps.tsv".to_string()
            }
            (Outcome::Skip(m), _, None) => {
                crate::harness::host::log_skip("conformance", &r.id, &first_line(m, 200));
                format!("keel skipped: {}", first_line(m, 90))
            }
            (Outcome::Pass(_), Outcome::Fail(m), None) => {
                format!("runc differs: {}", first_line(m, 90))
            }
            (Outcome::Pass(_), Outcome::Skip(m), None) => {
                format!("runc skipped: {}", first_line(m, 90))
            }
            (Outcome::Pass(_), Outcome::Pass(_), None) => String::new(),
        };
        let note = if matches!(k, Outcome::Fail(_)) {
            match c {
                Outcome::Fail(m) => format!("{note}; runc fails too: {}", first_line(m, 60)),
                Outcome::Pass(_) => format!("{note}; runc passes"),
                Outcome::Skip(_) => note,
            }
        } else {
            note
        };
        println!(
            "{:<w$} | {:<4} | {:<4} | {note}",
            format!("{} {}", r.id, r.level),
            word(k),
            word(c)
        );
        for (who, o) in [("keel", k), ("runc", c)] {
            if matches!(o, Outcome::Fail(_)) {
                details.push(format!(
                    "{} [{}] {who}:\n    {}",
                    r.id,
                    r.test,
                    indent(msg(o))
                ));
            }
        }
        if let (Outcome::Pass(a), Outcome::Pass(b)) = (k, c) {
            if !a.is_empty() || !b.is_empty() {
                errors_given.push(format!(
                    "{:<w$} keel: {}\n{:<w$} runc: {}",
                    r.id,
                    first_line(a, 110),
                    "",
                    first_line(b, 110)
                ));
            }
        }
    }
    if !errors_given.is_empty() {
        println!("\nNotes, and the error each runtime gave where one is required (the spec mandates an error, not its text):");
        for e in &errors_given {
            println!("{e}");
        }
    }
    if !details.is_empty() {
        println!("\nFailure details:");
        for d in &details {
            println!("{d}");
        }
    }
    println!(
        "\n{} requirements ({must} MUST, {should} SHOULD) from the OCI runtime-spec",
        reqs.len()
    );
    println!(
        "keel: {} pass, {} fail ({gap_fails} known gaps), {} skipped",
        tk.pass, tk.fail, tk.skip
    );
    println!(
        "runc: {} pass, {} fail, {} skipped",
        tr.pass, tr.fail, tr.skip
    );
    println!("time: {:.1} s", took.as_secs_f64());
    if problems.is_empty() {
        println!("conformance: ok");
        true
    } else {
        println!("\nconformance: FAILED");
        for p in &problems {
            println!("  {p}");
        }
        false
    }
}

fn indent(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let mut out: Vec<String> = lines.iter().take(14).map(|l| l.to_string()).collect();
    if lines.len() > 14 {
        out.push(format!("... ({} more lines)", lines.len() - 14));
    }
    out.join("\n    ")
}
