//! The built-in catalogue's quality bar, loading and linting of user entries, and the
//! matcher's behaviour on hostile input.

use std::sync::Arc;

use medic::knowledge::{self, Knowledge};
use medic::matcher::Matcher;

fn matcher() -> Matcher {
    Matcher::new(Arc::new(
        Knowledge::builtin().expect("built-in knowledge loads"),
    ))
}

fn top_ids(m: &Matcher, text: &str, n: usize) -> Vec<String> {
    m.diagnose(text, n)
        .matches
        .into_iter()
        .map(|m| m.id)
        .collect()
}

const REQUIRED: &[&str] = &[
    "general-troubleshooting",
    "advanced-debugging",
    "http-400",
    "http-401",
    "http-403",
    "http-404",
    "http-405",
    "http-408",
    "http-409",
    "http-413",
    "http-415",
    "http-422",
    "http-429",
    "http-500",
    "http-502",
    "http-503",
    "http-504",
    "dns-resolution-failure",
    "connection-refused",
    "connection-reset",
    "network-timeout",
    "firewall-blocked",
    "tls-certificate-expired",
    "tls-untrusted-certificate",
    "tls-hostname-mismatch",
    "tls-handshake-failure",
    "expired-token",
    "invalid-api-key",
    "insufficient-permissions",
    "oauth-invalid-grant",
    "clock-skew",
    "api-quota-exceeded",
    "malformed-json",
    "content-type-mismatch",
    "schema-mismatch",
    "character-encoding",
    "date-time-format",
    "webhook-not-received",
    "webhook-signature-invalid",
    "webhook-duplicate-deliveries",
    "cors-blocked",
    "pagination-missing-data",
    "api-version-deprecated",
];

#[test]
fn builtin_catalogue_has_every_required_entry_with_real_steps() {
    let kb = Knowledge::builtin().unwrap();
    for id in REQUIRED {
        let e = kb
            .get(id)
            .unwrap_or_else(|| panic!("missing built-in entry {id}"));
        assert!(
            e.steps.len() >= 4,
            "{id} has {} steps, wants at least 4",
            e.steps.len()
        );
        assert!(e.summary.len() >= 60, "{id} has a thin summary");
        assert!(
            !e.keywords.is_empty() || !e.codes.is_empty(),
            "{id} cannot be matched"
        );
        for step in &e.steps {
            // Steps are rendered as embed fields (≤ 1024 chars with numbering).
            assert!(
                step.chars().count() <= 1000,
                "{id} has a step over 1000 chars"
            );
        }
    }
    for e in kb.entries() {
        assert_eq!(
            e.source,
            format!("knowledge/{}.toml", e.id),
            "file name must be <id>.toml"
        );
        if let Some(code) = e.id.strip_prefix("http-") {
            assert!(
                e.codes.iter().any(|c| c == code),
                "{} lacks its status code",
                e.id
            );
            assert!(
                e.title.starts_with(&format!("{code} · ")),
                "{} title: {}",
                e.id,
                e.title
            );
        }
    }
}

#[test]
fn every_entry_is_found_by_its_title_and_by_each_code() {
    let m = matcher();
    for e in m.knowledge().entries() {
        let got = top_ids(&m, &e.title, 1);
        assert_eq!(got, vec![e.id.clone()], "title {:?}", e.title);
        for code in &e.codes {
            // A code that is one ordinary word ("Conflict", "Deprecation") is read like a
            // keyword, so alone it is chit-chat; as an error line it must still be found.
            let plain_word = code.starts_with(char::is_uppercase)
                && code.chars().skip(1).all(char::is_lowercase);
            let query = if plain_word {
                format!("error: {code}")
            } else {
                code.to_string()
            };
            let got = top_ids(&m, &query, 3);
            assert!(
                got.contains(&e.id),
                "code {code:?} of {} gave {got:?}",
                e.id
            );
        }
    }
}

#[test]
fn seed_topics_each_resolve() {
    let m = matcher();
    let cases: &[(&str, &[&str])] = &[
        // General troubleshooting steps.
        (
            "how do I troubleshoot an integration issue?",
            &["general-troubleshooting"],
        ),
        (
            "which system logs should I check first when the integration fails",
            &["general-troubleshooting"],
        ),
        (
            "how do I verify connectivity between the two systems, could a firewall block traffic",
            &[
                "firewall-blocked",
                "general-troubleshooting",
                "connection-refused",
                "network-timeout",
            ],
        ),
        (
            "how do I validate the api credentials and permissions",
            &[
                "invalid-api-key",
                "insufficient-permissions",
                "general-troubleshooting",
            ],
        ),
        (
            "inspect data formats: payload does not match the expected JSON schema",
            &["schema-mismatch", "malformed-json", "http-400", "http-422"],
        ),
        (
            "how can I test the API endpoints individually to isolate the problem",
            &["general-troubleshooting"],
        ),
        (
            "where do I find the rate limits and required headers in the API documentation",
            &["http-429", "general-troubleshooting", "api-quota-exceeded"],
        ),
        (
            "simplify the integration to a minimal test case",
            &["general-troubleshooting"],
        ),
        // Pitfalls.
        (
            "authentication failures with our partner",
            &["http-401", "invalid-api-key", "expired-token"],
        ),
        ("we are being rate limited", &["http-429"]),
        (
            "data validation errors on create",
            &["http-422", "http-400"],
        ),
        ("network timeouts calling the vendor", &["network-timeout"]),
        ("misconfigured webhook endpoint", &["webhook-not-received"]),
        (
            "schema mismatch between the two systems",
            &["schema-mismatch"],
        ),
        // Scenarios and codes.
        (
            "Authentication Failed (HTTP 401/403)",
            &["http-401", "http-403"],
        ),
        ("Bad Request (HTTP 400)", &["http-400"]),
        ("Rate Limit Exceeded (HTTP 429)", &["http-429"]),
        ("400 Bad Request", &["http-400"]),
        ("401 Unauthorized", &["http-401"]),
        ("403 Forbidden", &["http-403"]),
        ("404 Not Found", &["http-404"]),
        ("429 Too Many Requests", &["http-429"]),
        ("500 Internal Server Error", &["http-500"]),
        ("503 Service Unavailable", &["http-503"]),
        (
            "advanced debugging for a persistent, complex integration issue",
            &["advanced-debugging"],
        ),
    ];
    for (text, accept) in cases {
        let got = top_ids(&m, text, 3);
        assert!(
            got.iter().any(|g| accept.contains(&g.as_str())),
            "{text:?} gave {got:?}, wanted one of {accept:?}"
        );
    }
}

#[test]
fn explains_why_with_codes_and_typos() {
    let m = matcher();
    let d = m.diagnose(
        "we keep getting rate limted by the partner, 429s all night",
        3,
    );
    assert_eq!(d.codes.first().map(String::as_str), Some("429"));
    let best = d.best().expect("a match");
    assert_eq!(best.id, "http-429");
    assert!(best.score > 0.85, "{}", best.score);
    let json = serde_json::to_value(best).unwrap();
    let reasons = json["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r["kind"] == "code" && r["term"] == "429"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r["kind"] == "keyword" && r["matched"] == "rate limted"),
        "{reasons:?}"
    );
    let d = m.diagnose("our CRM sync gets unauthorised since this morning", 3);
    assert_eq!(d.best().map(|m| m.id.as_str()), Some("http-401"));
    // Codes keep their force when written as servers print them.
    for (text, id) in [
        ("our api returns 404 Not Found", "http-404"),
        ("SlowDown: please reduce your request rate", "http-429"),
        (
            "grpc status UNAVAILABLE from the inventory service",
            "http-503",
        ),
        (
            "Webhook-Signature header does not match",
            "webhook-signature-invalid",
        ),
        (
            "İNVALİD_GRANT from the token endpoint",
            "oauth-invalid-grant",
        ),
        ("too many requests from the billing api", "http-429"),
    ] {
        assert_eq!(top_ids(&m, text, 1), vec![id], "{text:?}");
    }
    // Word order does not change the score.
    let a = m.diagnose("rate limted, yes rate limited", 1).matches[0].score;
    let b = m.diagnose("rate limited, yes rate limted", 1).matches[0].score;
    assert_eq!(a, b);
    let d = m.diagnose("SSL certifcate expired on the partner's host", 3);
    assert_eq!(
        d.best().map(|m| m.id.as_str()),
        Some("tls-certificate-expired")
    );
}

#[test]
fn chit_chat_and_numbers_out_of_context_stay_silent() {
    let m = matcher();
    for text in [
        "good morning",
        "room 404 at 3pm",
        "we shipped 200 features this quarter",
        "the 429 bus is late again",
        "PR #401 looks good to me",
        // Plain English that contains an error's words ("Not Found", "SlowDown", "Conflict").
        "I have not found the time to review it",
        "traffic tends to slow down after lunch",
        "we have a scheduling conflict on friday",
        "the cafeteria service is unavailable today",
        "the webhook signature docs are merged",
        "great work everyone????",
        "thanks a lot!",
        "",
        "   ",
        "🙂🙂🙂",
    ] {
        assert!(
            m.diagnose(text, 3).matches.is_empty(),
            "{text:?} should get no answer"
        );
    }
}

#[test]
fn hostile_input_gets_an_answer_or_nothing_never_a_panic() {
    let m = matcher();
    let huge = format!("ECONNREFUSED {}", "lorem ipsum ".repeat(100_000)); // 1.2 MB
    assert_eq!(top_ids(&m, &huge, 1), vec!["connection-refused"]);
    let binary: String = (0u8..=255).map(char::from).cycle().take(1 << 20).collect();
    let _ = m.diagnose(&binary, 3);
    let nul = "HTTP 429\0\0\0 too many requests\0";
    assert_eq!(top_ids(&m, nul, 1), vec!["http-429"]);
    let rtl = "‏خطأ 503 Service Unavailable من الخادم‏";
    assert_eq!(top_ids(&m, rtl, 1), vec!["http-503"]);
    let md = "```\nrequests.exceptions.SSLError: certificate verify failed: certificate has expired\n```\n**help** @everyone";
    assert_eq!(top_ids(&m, md, 1), vec!["tls-certificate-expired"]);
    let long_word = "a".repeat(100_000);
    assert!(m.diagnose(&long_word, 3).matches.is_empty());
    // The query is echoed as given; matching itself only reads a bounded prefix.
    let late = format!("{}ECONNREFUSED", "x ".repeat(100_000));
    assert!(m.diagnose(&late, 3).matches.is_empty());
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const GOOD: &str = r#"id = "partner-sftp-drop"
title = "Partner SFTP drop is empty"
summary = "The nightly partner file did not arrive in the SFTP drop folder."
codes = ["SFTP_EMPTY_DROP"]
keywords = ["sftp drop empty", "partner file missing"]
steps = ["Run `sftp -b - partner@example.org <<< 'ls -l inbox'` and compare timestamps."]
related = ["http-429"]
"#;

#[test]
fn user_directory_adds_and_overrides_entries() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "partner-sftp-drop.toml", GOOD);
    write(
        dir.path(),
        "http-429.toml",
        &GOOD
            .replace("partner-sftp-drop", "http-429")
            .replace(
                "Partner SFTP drop is empty",
                "429 · Our own throttling runbook",
            )
            .replace("SFTP_EMPTY_DROP", "429")
            .replace(
                "\"sftp drop empty\", \"partner file missing\"",
                "\"throttled by the gateway\"",
            )
            .replace("related = [\"http-429\"]", "related = []"),
    );
    let kb = Knowledge::load(Some(dir.path())).unwrap();
    assert_eq!(
        kb.get("http-429").unwrap().title,
        "429 · Our own throttling runbook"
    );
    assert_eq!(kb.len(), Knowledge::builtin().unwrap().len() + 1);
    let m = Matcher::new(Arc::new(kb));
    assert_eq!(
        top_ids(&m, "the partner file missing again, SFTP_EMPTY_DROP", 1),
        vec!["partner-sftp-drop"]
    );
    assert_eq!(top_ids(&m, "HTTP 429", 1), vec!["http-429"]);
}

#[test]
fn broken_entries_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a-bad-toml.toml",
        "id = \"x\"\ntitle = \"unterminated\n",
    );
    write(
        dir.path(),
        "b-unknown-field.toml",
        &format!("{GOOD}colour = \"red\"\n").replace("partner-sftp-drop", "b-unknown"),
    );
    write(
        dir.path(),
        "c-empty-steps.toml",
        &GOOD.replace("partner-sftp-drop", "c-empty").replace(
            "steps = [\"Run `sftp -b - partner@example.org <<< 'ls -l inbox'` and compare timestamps.\"]",
            "steps = []",
        ),
    );
    write(
        dir.path(),
        "d-dup-1.toml",
        &GOOD.replace("partner-sftp-drop", "dup"),
    );
    write(
        dir.path(),
        "d-dup-2.toml",
        &GOOD.replace("partner-sftp-drop", "dup"),
    );
    write(
        dir.path(),
        "e-related.toml",
        &GOOD
            .replace("partner-sftp-drop", "e-related")
            .replace("\"http-429\"]", "\"http-429\",\n  \"no-such-entry\"]"),
    );
    write(
        dir.path(),
        "f-missing.toml",
        "id = \"f-missing\"\ntitle = \"x\"\n",
    );
    let problems: Vec<String> = knowledge::lint_dir(dir.path())
        .iter()
        .map(|p| p.to_string())
        .collect();
    let has = |file: &str, line: usize, text: &str| {
        problems
            .iter()
            .any(|p| p.contains(&format!("{file}:{line}: ")) && p.contains(text))
    };
    assert!(has("a-bad-toml.toml", 2, "invalid entry"), "{problems:#?}");
    assert!(
        has("b-unknown-field.toml", 8, "unknown field `colour`"),
        "{problems:#?}"
    );
    assert!(
        has("c-empty-steps.toml", 6, "`steps` is empty"),
        "{problems:#?}"
    );
    assert!(
        has("d-dup-2.toml", 1, "duplicate id `dup`"),
        "{problems:#?}"
    );
    assert!(
        has("e-related.toml", 8, "unknown entry id `no-such-entry`"),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            // No line: a missing field has none of its own.
            .any(|p| p.contains("f-missing.toml: missing field `summary`")),
        "{problems:#?}"
    );
    // Both missing fields of f-missing.toml are reported, not just the first.
    assert_eq!(problems.len(), 7, "{problems:#?}");
    // Loading refuses the directory as a whole.
    assert!(Knowledge::load(Some(dir.path())).is_err());
}

#[test]
fn shipped_knowledge_directory_lints_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    let problems = knowledge::lint_catalogue(&dir);
    assert!(problems.is_empty(), "{problems:#?}");
    // Linted on its own, a copy with a deleted entry and a renamed id is caught (on top of the
    // built-ins the embedded copies would hide both).
    let copy = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&dir).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, copy.path().join(f.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(copy.path().join("http-429.toml")).unwrap();
    let quota = copy.path().join("api-quota-exceeded.toml");
    let text = std::fs::read_to_string(&quota).unwrap();
    std::fs::write(
        &quota,
        text.replacen("id = \"api-quota-exceeded\"", "id = \"quota-exceeded\"", 1),
    )
    .unwrap();
    let problems: Vec<String> = knowledge::lint_catalogue(copy.path())
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("unknown entry id `http-429`")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("unknown entry id `api-quota-exceeded`")),
        "{problems:#?}"
    );
}

#[test]
fn windows_line_endings_and_a_byte_order_mark_load_with_correct_lines() {
    let dir = tempfile::tempdir().unwrap();
    let crlf = GOOD.replace('\n', "\r\n");
    write(
        dir.path(),
        "partner-sftp-drop.toml",
        &format!("\u{feff}{crlf}"),
    );
    let kb = Knowledge::load(Some(dir.path())).unwrap();
    assert!(kb.get("partner-sftp-drop").is_some());
    write(
        dir.path(),
        "partner-sftp-drop.toml",
        &format!("{crlf}colour = \"red\"\r\n"),
    );
    let problems: Vec<String> = knowledge::lint_dir(dir.path())
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("partner-sftp-drop.toml:8: ") && p.contains("colour")),
        "{problems:#?}"
    );
}

#[test]
fn an_entry_that_extends_a_built_in_adds_to_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "http-429.toml",
        "id = \"http-429\"\nextends = \"http-429\"\nkeywords = [\"acme bulk quota\"]\nsteps = [\"Acme: open a ticket with the `X-Acme-Trace` id before raising the limit.\"]\n",
    );
    let kb = Knowledge::load(Some(dir.path())).unwrap();
    let e = kb.get("http-429").unwrap();
    let builtin = Knowledge::builtin().unwrap();
    let base = builtin.get("http-429").unwrap();
    assert_eq!(e.title, base.title, "title taken from the built-in");
    assert!(
        e.codes.iter().any(|c| c == "429"),
        "codes kept: {:?}",
        e.codes
    );
    assert!(e.keywords.iter().any(|k| k == "acme bulk quota"));
    assert!(e.keywords.len() == base.keywords.len() + 1);
    assert_eq!(e.steps.len(), 1, "steps given replace the built-in's");
    let m = Matcher::new(Arc::new(kb));
    assert_eq!(top_ids(&m, "HTTP 429", 1), ["http-429"]);
    assert_eq!(
        top_ids(&m, "hit the acme bulk quota again", 1),
        ["http-429"]
    );
    assert!(knowledge::replacement_warnings(dir.path()).is_empty());

    // `extends` of an id nobody defines is an error at its line.
    write(
        dir.path(),
        "http-429.toml",
        "id = \"acme-429\"\nextends = \"acme-base\"\n",
    );
    let problems: Vec<String> = knowledge::lint_dir(dir.path())
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("http-429.toml:2: `extends` names `acme-base`")),
        "{problems:#?}"
    );
}

#[test]
fn a_replacement_that_drops_codes_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "http-429.toml",
        "id = \"http-429\"\ntitle = \"Rate limited by Acme\"\nsummary = \"Acme throttles bulk syncs.\"\nsteps = [\"Slow the sync down.\"]\n",
    );
    assert!(knowledge::lint_dir(dir.path()).is_empty());
    let warnings: Vec<String> = knowledge::replacement_warnings(dir.path())
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("http-429.toml:1: replaces the built-in `http-429` and drops its")
            && warnings[0].contains("429")
            && warnings[0].contains("extends = \"http-429\""),
        "{warnings:#?}"
    );
}

#[test]
fn every_problem_of_an_entry_file_at_once_and_categories_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "acme.toml",
        "id = \"acme\"\ntitel = \"Acme\"\nsummary = 42\ncodes = \"ACME-1\"\nsteps = [\"x\"]\n",
    );
    let problems: Vec<String> = knowledge::lint_dir(dir.path())
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems
        .iter()
        .any(|p| p.contains("acme.toml:2: unknown field `titel`; did you mean `title`?")));
    assert!(problems
        .iter()
        .any(|p| p.contains("acme.toml:3: `summary`: expected text")));
    assert!(problems
        .iter()
        .any(|p| p.contains("acme.toml:4: `codes`: expected a list")));

    write(
        dir.path(),
        "acme.toml",
        "id = \"acme\"\ntitle = \"Acme\"\ncategory = \"integrationz\"\nsummary = \"s\"\nsteps = [\"x\"]\n",
    );
    let problems: Vec<String> = knowledge::lint_dir(dir.path())
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p
                .contains("acme.toml:3: `category` \"integrationz\" is not one of the categories")),
        "{problems:#?}"
    );
}

#[test]
fn kb_lint_without_a_directory_checks_the_embedded_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    // A `knowledge/` in the current directory is not what the binary carries.
    std::fs::create_dir(dir.path().join("knowledge")).unwrap();
    std::fs::write(dir.path().join("knowledge/broken.toml"), "nonsense").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .current_dir(dir.path())
        .args(["kb", "lint"])
        .env_remove("MEDIC_KNOWLEDGE_DIR")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let n = Knowledge::builtin().unwrap().len();
    assert_eq!(
        out,
        format!("built-in catalogue: {n} entries, no problems\n")
    );
}

#[test]
fn kb_lint_runs_each_entrys_examples_and_not_examples() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "partner-sftp-drop.toml",
        &format!(
            "{GOOD}examples = [\n  \"the partner sftp drop is empty again this morning\",\n  \"HTTP 429 Too Many Requests from the billing API\",\n]\nnot_examples = [\"SFTP_EMPTY_DROP\"]\n"
        ),
    );
    let lint = |dir: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
            .args(["kb", "lint"])
            .arg(dir)
            .env_remove("MEDIC_KNOWLEDGE_DIR")
            .output()
            .unwrap()
    };
    let o = lint(dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines = GOOD.lines().count();
    // The second example is a 429, the not_example names this entry's own code.
    assert!(
        err.contains(&format!("partner-sftp-drop.toml:{}: example \"HTTP 429 Too Many Requests from the billing API\" is answered with `http-429` first, not `partner-sftp-drop`", lines + 3)),
        "{err}"
    );
    assert!(
        err.contains(&format!("partner-sftp-drop.toml:{}: not_example \"SFTP_EMPTY_DROP\" is answered with `partner-sftp-drop`", lines + 5)),
        "{err}"
    );
    assert_eq!(
        err.matches("partner-sftp-drop.toml:").count(),
        2,
        "the first example passes: {err}"
    );
    // Fixed, the directory passes.
    write(
        dir.path(),
        "partner-sftp-drop.toml",
        &format!("{GOOD}examples = [\"the partner sftp drop is empty again this morning\"]\n"),
    );
    let o = lint(dir.path());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
