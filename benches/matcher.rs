//! Matcher throughput on a realistic message mix, against the built-in catalogue and a
//! generated 5,000-entry catalogue, plus the cost of building the index.
//!
//! Run: `cargo bench --bench matcher` (figures are recorded in docs/benchmarks.md).

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use medic::knowledge::{builtin_files, Knowledge, SourceFile};
use medic::matcher::Matcher;

/// The labelled messages users type: problems, pasted errors, chit-chat.
fn messages() -> Vec<String> {
    include_str!("../tests/data/labelled.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect()
}

/// A deterministic synthetic catalogue: `n` entries with made-up words, codes and steps,
/// on top of the built-ins, shaped like real entries (6 keywords, 3 codes, 5 steps).
fn generated(n: usize) -> Vec<SourceFile> {
    const SYL: &[&str] = &[
        "ka", "lo", "mi", "ren", "tos", "vex", "dar", "pol", "qui", "sen", "tra", "ble", "nor",
        "gim", "hal", "jor", "wex", "zun", "fep", "cly",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut word = || -> String {
        let len = 2 + (next() % 3) as usize;
        (0..len)
            .map(|_| SYL[(next() % SYL.len() as u64) as usize])
            .collect()
    };
    (0..n)
        .map(|i| {
            let kws: Vec<String> = (0..6).map(|_| format!("\"{} {}\"", word(), word())).collect();
            let text = format!(
                "id = \"gen-{i}\"\ntitle = \"Generated {} {} failure\"\nsummary = \"Synthetic entry {i}.\"\n\
                 codes = [\"GEN_E{i}\", \"{}Exception\", \"{}_{}\"]\nkeywords = [{}]\n\
                 steps = [\"Run `curl -v` against {}.\", \"Read the {} log.\", \"Compare {}.\", \"Retry {}.\", \"Escalate.\"]\n",
                word(), word(), word(), word(), word(), kws.join(", "), word(), word(), word(), word()
            );
            SourceFile { name: format!("gen/{i}.toml"), text }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let msgs = messages();
    let builtin = Matcher::new(Arc::new(Knowledge::builtin().unwrap()));
    let mut g = c.benchmark_group("diagnose");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("builtin", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(builtin.diagnose(black_box(m), 3));
            }
        })
    });
    let layers = [builtin_files(), generated(5_000)];
    let big = Knowledge::from_layers(&layers).unwrap();
    let big_matcher = Matcher::new(Arc::new(big.clone()));
    g.bench_function("generated_5000", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(big_matcher.diagnose(black_box(m), 3));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("index_5000", |b| {
        b.iter_batched(
            || Arc::new(big.clone()),
            |kb| black_box(Matcher::new(kb)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("parse_and_index_5000", |b| {
        b.iter(|| {
            black_box(Matcher::new(Arc::new(
                Knowledge::from_layers(&layers).unwrap(),
            )))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
