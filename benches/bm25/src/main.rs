//! BM25 baseline: tantivy term queries over a medic catalogue export, one per message.
//!
//! `medic-bm25-baseline EXPORT.json MESSAGES.jsonl ROUNDS` indexes every entry (id stored;
//! title, summary, codes, keywords and steps as one text field), then for each message runs a
//! disjunction of term queries over its tokens (tantivy's default tokenizer, the same one that
//! indexed) and takes the top 3 ids, ROUNDS times over the messages. It prints the ids of an
//! untimed first pass to stderr (so a run can be checked) and, on stdout, the messages per
//! second of the timed query loop, which is what the script compares.

use std::time::Instant;

use serde_json::Value;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Schema, Value as _, STORED, STRING, TEXT};
use tantivy::tokenizer::TokenStream;
use tantivy::{doc, Index, TantivyDocument, Term};

fn strings(entry: &Value, field: &str) -> String {
    match &entry[field] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn main() -> tantivy::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, export, messages, rounds] = &args[..] else {
        eprintln!("usage: medic-bm25-baseline EXPORT.json MESSAGES.jsonl ROUNDS");
        std::process::exit(2);
    };
    let rounds: usize = rounds.parse().expect("ROUNDS is a number");
    let export: Value = serde_json::from_str(&std::fs::read_to_string(export)?).expect("export");
    let messages: Vec<String> = std::fs::read_to_string(messages)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            v["text"].as_str().unwrap_or_default().to_string()
        })
        .collect();

    let mut schema = Schema::builder();
    let id = schema.add_text_field("id", STRING | STORED);
    let text = schema.add_text_field("text", TEXT);
    let schema = schema.build();
    let index = Index::create_in_ram(schema);
    let mut writer = index.writer(50_000_000)?;
    for entry in export.as_array().expect("an array of entries") {
        let body = ["title", "summary", "codes", "keywords", "steps"]
            .iter()
            .map(|f| strings(entry, f))
            .collect::<Vec<_>>()
            .join("\n");
        writer.add_document(doc!(id => entry["id"].as_str().unwrap_or_default(), text => body))?;
    }
    writer.commit()?;
    let reader = index.reader()?;
    let searcher = reader.searcher();
    let mut tokenizer = index.tokenizer_for_field(text)?;

    let query = |message: &str, tokenizer: &mut tantivy::tokenizer::TextAnalyzer| {
        let mut terms: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut stream = tokenizer.token_stream(message);
        while stream.advance() {
            let term = Term::from_field_text(text, &stream.token().text);
            terms.push((
                Occur::Should,
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
            ));
        }
        searcher.search(&BooleanQuery::new(terms), &TopDocs::with_limit(3))
    };

    // An untimed first pass prints what BM25 answers, so a run can be checked by eye.
    for message in &messages {
        let ids: Vec<String> = query(message, &mut tokenizer)?
            .iter()
            .filter_map(|(_, address)| searcher.doc::<TantivyDocument>(*address).ok())
            .filter_map(|d| d.get_first(id).and_then(|v| v.as_str().map(str::to_string)))
            .collect();
        eprintln!("{}", ids.join(" "));
    }

    let mut answered = 0usize;
    let started = Instant::now();
    for _ in 0..rounds {
        for message in &messages {
            if !query(message, &mut tokenizer)?.is_empty() {
                answered += 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = rounds * messages.len();
    println!("{:.0}", total as f64 / seconds);
    eprintln!("{total} queries, {answered} with an answer, {seconds:.3} s");
    Ok(())
}
