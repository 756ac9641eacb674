//! Accuracy of the matcher over labelled messages in `tests/data/`.
//!
//! - `labelled.jsonl`: the development set (the 50 shared examples and 350 more); the matcher
//!   and catalogue were tuned on it. Bar: top-3 ≥ 95 %, top-1 ≥ 85 % on problem messages,
//!   ≥ 90 % of chit-chat silent.
//! - `holdout.jsonl`: written without sight of the catalogue, but the catalogue gained phrasings
//!   after its first run, so it is partly seen. Floors: 90 % / 80 % / 85 %.
//! - `blind.jsonl`: written without sight of the catalogue and never tuned on — the honest
//!   figure for unseen wording. Floors just below its first measurement (96.7 % / 92.5 % /
//!   93.3 %): 93 % / 88 % / 88 %. Do not tune on it; write a new blind set instead.
//! - `new_entries.jsonl`: messages for the 24 entries added in issue 14 (99 problems, 15
//!   chit-chat), written before those entries existed but by their author, so not blind.
//!   First run 99.0 % / 96.0 % / 80.0 %, then tuned on. Floors: 95 % / 90 % / 75 %.
//! - `blind2.jsonl`: 358 messages (287 problems, 71 chit-chat) written for issue 11 by a
//!   helper who saw only the entry ids and titles, with vendor pastes and multi-line traces.
//!   First run, on the 44-entry catalogue: top-3 63.4 %, top-1 58.5 %, silence 90.1 % (77.1 %
//!   top-1 on the messages an old entry could answer); after issue 14's entries, untuned on it:
//!   86.8 % / 81.2 % / 90.1 %. Floors: 84 % / 78 % / 86 %. Blind: do not tune on it.
//! - `blind3.jsonl`: 214 messages (174 problems, 40 silent) written in session 3 from entry ids
//!   and titles only, before reading the matcher: vendor pastes (Salesforce, Stripe, AWS, Graph
//!   AADSTS, …), proxies, traces, bare-code questions, comparisons, feature talk. First run, on
//!   the 68-entry catalogue, untuned: top-3 82.2 %, top-1 75.3 %, silence 82.5 %. Floors:
//!   80 % / 73 % / 80 %. Blind: do not tune on it.
//! - `issues.jsonl`: 163 messages (133 problems, 30 silent) quoted from public issue trackers
//!   by a helper who saw only entry ids and titles. First run (2026-12-04): top-3 95.5 %, top-1
//!   88.7 %, silence 43.3 % (issue and commit titles answered); then tuned on. Floors:
//!   93 % / 85 % / 80 %.
//! - `titles.jsonl`: 120 lines (30 problems, 90 silent) quoted from public repositories by a
//!   third helper: PR and issue titles, changelog bullets, review comments that name codes, and
//!   short failure-report titles. First run (2026-12-04): 90.0 % / 90.0 % / 68.9 %; then tuned
//!   on. Floors: 90 % / 85 % / 82 %.
//! - `replies.jsonl`: 110 lines (25 problems, 85 silent) quoted from public repositories by a
//!   fourth helper: maintainers' replies, documentation that explains codes, code comments,
//!   changelog sections, announcements. First run (2026-12-04): 88.0 % / 84.0 % / 40.0 %;
//!   then tuned on. Floors: 84 % / 78 % / 48 %.
//! - `blind4.jsonl`: 165 messages (135 problems, 30 silent) from public issue trackers by
//!   another helper, same brief, other sources. First run (2026-12-04): 95.6 % / 90.4 % /
//!   26.7 %. Floors: 92 % / 86 % / 35 %. Blind: do not tune on it.
//!
//! Runs without libtest's harness so the figures are printed on every `cargo test`.

use std::process::ExitCode;
use std::sync::Arc;

use medic::knowledge::Knowledge;
use medic::matcher::Matcher;

#[derive(serde::Deserialize)]
struct Labelled {
    text: String,
    accept: Vec<String>,
}

/// Minimum top-3, top-1 and chit-chat silence rates for one set.
struct Bar {
    top3: f64,
    top1: f64,
    silent: f64,
}

const DEV_BAR: Bar = Bar {
    top3: 0.95,
    top1: 0.85,
    silent: 0.90,
};
const HOLDOUT_BAR: Bar = Bar {
    top3: 0.90,
    top1: 0.80,
    silent: 0.85,
};
const BLIND_BAR: Bar = Bar {
    top3: 0.93,
    top1: 0.88,
    silent: 0.88,
};
/// Regression floors only, set below the figures after the issue-14 catalogue: this set is
/// blind and its misses are not to be tuned away one by one.
const BLIND2_BAR: Bar = Bar {
    top3: 0.84,
    top1: 0.78,
    silent: 0.86,
};
const BLIND3_BAR: Bar = Bar {
    top3: 0.80,
    top1: 0.73,
    silent: 0.80,
};
const ISSUES_BAR: Bar = Bar {
    top3: 0.93,
    top1: 0.85,
    silent: 0.80,
};
const TITLES_BAR: Bar = Bar {
    top3: 0.90,
    top1: 0.85,
    silent: 0.82,
};
const REPLIES_BAR: Bar = Bar {
    top3: 0.84,
    top1: 0.78,
    silent: 0.48,
};
const BLIND4_BAR: Bar = Bar {
    top3: 0.92,
    top1: 0.86,
    silent: 0.35,
};
const NEW_ENTRIES_BAR: Bar = Bar {
    top3: 0.95,
    top1: 0.90,
    silent: 0.75,
};

struct Figures {
    problems: usize,
    top1: usize,
    top3: usize,
    chat: usize,
    silent: usize,
}

fn evaluate(matcher: &Matcher, name: &str, data: &str, bar: &Bar) -> bool {
    let mut f = Figures {
        problems: 0,
        top1: 0,
        top3: 0,
        chat: 0,
        silent: 0,
    };
    let mut misses = Vec::new();
    for (n, line) in data
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let l: Labelled = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("tests/data/{name}:{}: {e}", n + 1));
        for id in &l.accept {
            assert!(
                matcher.knowledge().get(id).is_some(),
                "tests/data/{name}:{}: unknown id {id}",
                n + 1
            );
        }
        let d = matcher.diagnose(&l.text, 3);
        let got: Vec<&str> = d.matches.iter().map(|m| m.id.as_str()).collect();
        let text: String = l
            .text
            .chars()
            .take(120)
            .collect::<String>()
            .replace('\n', " ");
        if l.accept.is_empty() {
            f.chat += 1;
            if got.is_empty() {
                f.silent += 1;
            } else {
                misses.push(format!(
                    "  line {:>3} should be silent, got {got:?}: {text}",
                    n + 1
                ));
            }
            continue;
        }
        f.problems += 1;
        let ok = |id: &&str| l.accept.iter().any(|a| a == id);
        if got.first().is_some_and(ok) {
            f.top1 += 1;
        }
        if got.iter().any(ok) {
            f.top3 += 1;
        } else {
            misses.push(format!(
                "  line {:>3} wanted {:?}, got {got:?}: {text}",
                n + 1,
                l.accept
            ));
        }
    }
    // An empty or truncated file must not pass the bar by default.
    assert!(
        f.problems >= 20 && f.chat >= 10,
        "tests/data/{name} has too few messages"
    );
    let pct = |a: usize, b: usize| a as f64 / b as f64;
    let (p1, p3, ps) = (
        pct(f.top1, f.problems),
        pct(f.top3, f.problems),
        pct(f.silent, f.chat),
    );
    println!("matcher accuracy over tests/data/{name}");
    println!(
        "  top-1: {}/{} = {:.1} % (min {:.0} %)",
        f.top1,
        f.problems,
        p1 * 100.0,
        bar.top1 * 100.0
    );
    println!(
        "  top-3: {}/{} = {:.1} % (min {:.0} %)",
        f.top3,
        f.problems,
        p3 * 100.0,
        bar.top3 * 100.0
    );
    println!(
        "  chit-chat silent: {}/{} = {:.1} % (min {:.0} %)",
        f.silent,
        f.chat,
        ps * 100.0,
        bar.silent * 100.0
    );
    if !misses.is_empty() {
        println!("  misses:");
        for m in &misses {
            println!("  {m}");
        }
    }
    p1 >= bar.top1 && p3 >= bar.top3 && ps >= bar.silent
}

fn main() -> ExitCode {
    let kb = Knowledge::builtin().expect("built-in knowledge loads");
    let matcher = Matcher::new(Arc::new(kb));
    let sets = [
        (
            "labelled.jsonl",
            include_str!("data/labelled.jsonl"),
            DEV_BAR,
        ),
        (
            "holdout.jsonl",
            include_str!("data/holdout.jsonl"),
            HOLDOUT_BAR,
        ),
        ("blind.jsonl", include_str!("data/blind.jsonl"), BLIND_BAR),
        (
            "new_entries.jsonl",
            include_str!("data/new_entries.jsonl"),
            NEW_ENTRIES_BAR,
        ),
        (
            "blind2.jsonl",
            include_str!("data/blind2.jsonl"),
            BLIND2_BAR,
        ),
        (
            "blind3.jsonl",
            include_str!("data/blind3.jsonl"),
            BLIND3_BAR,
        ),
        (
            "issues.jsonl",
            include_str!("data/issues.jsonl"),
            ISSUES_BAR,
        ),
        (
            "titles.jsonl",
            include_str!("data/titles.jsonl"),
            TITLES_BAR,
        ),
        (
            "replies.jsonl",
            include_str!("data/replies.jsonl"),
            REPLIES_BAR,
        ),
        (
            "blind4.jsonl",
            include_str!("data/blind4.jsonl"),
            BLIND4_BAR,
        ),
    ];
    let passed = sets
        .iter()
        .filter(|(name, data, bar)| evaluate(&matcher, name, data, bar))
        .count();
    let failed = sets.len() - passed;
    println!("accuracy: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
