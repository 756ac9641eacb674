//! Decides which numbers in a message are HTTP status codes ("got a 429"), not room numbers.

use super::text::Token;

/// Words that, just before a number, say it is not a status ("room 404", "PR 401").
const NOT_STATUS_BEFORE: &[&str] = &[
    "room",
    "rooms",
    "floor",
    "page",
    "pages",
    "line",
    "lines",
    "step",
    "steps",
    "version",
    "v",
    "item",
    "items",
    "issue",
    "issues",
    "ticket",
    "tickets",
    "pr",
    "bus",
    "route",
    "gate",
    "building",
    "suite",
    "apt",
    "apartment",
    "chapter",
    "section",
    "table",
    "row",
    "column",
    "about",
    "over",
    "under",
    "than",
    "top",
    "only",
    "around",
    "approximately",
    "exactly",
    "nearly",
    "almost",
    "least",
    "most",
    "to",
    "from",
    "between",
    "and",
    "or",
    "by",
    "order",
    "invoice",
    "flight",
    "train",
    "desk",
    "seat",
    "highway",
    "interstate",
    "episode",
    "level",
    "port",
    "pid",
    "user",
    "id",
    "number",
    "no",
    "nr",
    "num",
    "sprint",
    "week",
    "day",
    "year",
    "iphone",
    "model",
    "class",
    "course",
    "cs",
    "phone",
    "extension",
    "ext",
    "size",
    "spent",
    "pay",
    "paid",
    "costs",
    "cost",
    "price",
    "budget",
    "scored",
    "score",
];

/// Words that, just after a number, make it a quantity ("500 requests", "200 features").
const NOT_STATUS_AFTER: &[&str] = &[
    "features",
    "feature",
    "users",
    "user",
    "people",
    "persons",
    "person",
    "ms",
    "milliseconds",
    "seconds",
    "secs",
    "sec",
    "minutes",
    "mins",
    "min",
    "hours",
    "hrs",
    "days",
    "weeks",
    "months",
    "years",
    "km",
    "miles",
    "mb",
    "kb",
    "gb",
    "tb",
    "bytes",
    "items",
    "rows",
    "records",
    "requests",
    "req",
    "rps",
    "qps",
    "tickets",
    "dollars",
    "usd",
    "eur",
    "euros",
    "points",
    "pages",
    "lines",
    "times",
    "percent",
    "px",
    "calls",
    "messages",
    "customers",
    "orders",
    "employees",
    "attendees",
    "guests",
    "tests",
    "commits",
    "stars",
    "downloads",
    "bus",
    "tasks",
    "files",
    "entries",
    "events",
    "jobs",
    "nodes",
    "pods",
    "servers",
    "instances",
    "threads",
    "connections",
    "bucks",
    "k",
    "am",
    "pm",
    "sq",
    "m",
    "cm",
];

/// Words that, just before a number, say it is a status ("HTTP 429", "got a 503").
const STATUS_BEFORE: &[&str] = &[
    "http",
    "https",
    "status",
    "statuscode",
    "status_code",
    "code",
    "error",
    "err",
    "got",
    "get",
    "getting",
    "gets",
    "returned",
    "returns",
    "returning",
    "return",
    "received",
    "receiving",
    "receive",
    "response",
    "responded",
    "responds",
    "answered",
    "answers",
    "threw",
    "throws",
    "throwing",
    "hitting",
    "hit",
    "hits",
    "a",
    "an",
    "with",
    "fails",
    "failed",
    "failing",
    "seeing",
    "see",
    "lots",
    "bunch",
    "of",
    "diagnose",
    "constant",
    "random",
    "sporadic",
    "intermittent",
    "occasional",
    "raises",
    "raised",
    "gives",
    "gave",
    "giving",
    "throw",
    "spits",
    "yields",
    "sends",
    "sent",
    "these",
    "those",
    "more",
];

/// Words that, just after a number, say it is a status ("429 error", "404 on /users").
const STATUS_AFTER: &[&str] = &[
    "error",
    "errors",
    "err",
    "response",
    "responses",
    "status",
    "code",
    "from",
    "on",
    "when",
    "while",
    "after",
    "back",
    "again",
    "returned",
    "for",
    "whenever",
    "if",
    "since",
    "sometimes",
    "intermittently",
    "randomly",
    "s",
    "exception",
    "every",
    "each",
    "till",
    "until",
    "now",
    "too",
    "with",
];

/// Reason phrases' first words, so "404 not found" and "503 service unavailable" count.
fn reason_starts(code: u16) -> &'static [&'static str] {
    match code {
        400 => &["bad"],
        401 => &["unauthorized", "unauthorised"],
        402 => &["payment"],
        403 => &["forbidden"],
        404 => &["not"],
        405 => &["method"],
        406 => &["not"],
        407 => &["proxy"],
        408 => &["request", "timeout"],
        409 => &["conflict"],
        410 => &["gone"],
        411 => &["length"],
        412 => &["precondition"],
        413 => &["payload", "request", "content", "entity"],
        414 => &["uri", "url"],
        415 => &["unsupported"],
        416 => &["range"],
        418 => &["i"],
        421 => &["misdirected"],
        422 => &["unprocessable"],
        423 => &["locked"],
        424 => &["failed"],
        425 => &["too"],
        426 => &["upgrade"],
        428 => &["precondition"],
        429 => &["too", "rate"],
        431 => &["request"],
        451 => &["unavailable"],
        500 => &["internal", "server"],
        501 => &["not"],
        502 => &["bad"],
        503 => &["service", "unavailable"],
        504 => &["gateway"],
        505 => &["http"],
        507 => &["insufficient"],
        508 => &["loop"],
        511 => &["network"],
        _ => &[],
    }
}

/// A status found in the message and the token that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    pub code: u16,
    pub token: usize,
}

fn parse_status(text: &str) -> Option<(u16, bool)> {
    // "429" or the plural "429s".
    let (digits, plural) = match text.strip_suffix('s') {
        Some(d) => (d, true),
        None => (text, false),
    };
    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = digits.parse().ok()?;
    (400..=599).contains(&code).then_some((code, plural))
}

/// Punctuation glued to a number that makes it part of something else: `#401`, `$500`,
/// `host:443`, `/users/404`, `5.0.3`, `503-555-0100`, `12:30`, `50%`.
fn glued(tok: &Token) -> bool {
    if matches!(
        tok.before,
        Some('#' | '$' | '€' | '£' | '.' | ':' | '/' | '-' | '+' | '@' | '=' | '~')
    ) {
        return true;
    }
    match tok.after {
        (Some('%'), _) => true,
        (Some('.' | ':' | '-' | '/' | ','), Some(n)) if n.is_ascii_digit() => true,
        _ => false,
    }
}

/// IIS's sub-status after an error word: "HTTP Error 401.0 - Unauthorized", "error 500.19".
/// A version ("5.0.3") has a third part; a sub-status does not.
fn iis_substatus(tokens: &[Token], i: usize, prev: Option<&str>) -> bool {
    let tok = &tokens[i];
    let Some(sub) = tokens.get(i + 1) else {
        return false;
    };
    tok.before.is_none_or(char::is_whitespace)
        && tok.after.0 == Some('.')
        && sub.text.len() <= 2
        && sub.text.bytes().all(|b| b.is_ascii_digit())
        && sub.after.0 != Some('.')
        && prev.is_some_and(|p| matches!(p, "error" | "http" | "status"))
}

/// Words that open a question ("what does 422 mean", "is 503 the same as 502?"). A code asked
/// about is an error context: nobody asks what room 404 means.
const QUESTION_START: &[&str] = &[
    "what",
    "whats",
    "is",
    "are",
    "does",
    "do",
    "why",
    "how",
    "explain",
    "define",
    "meaning",
    "difference",
    "which",
    "can",
    "could",
    "should",
    "when",
    "whens",
];

/// Words just after a code in a question about it ("422 mean", "502 vs 504").
const ASKED_AFTER: &[&str] = &[
    "mean",
    "means",
    "meaning",
    "vs",
    "versus",
    "stand",
    "stands",
    "signify",
    "indicate",
    "indicates",
    "same",
    "different",
];

/// Whether the message is a question: it opens with a question word or a token ends in `?`.
fn is_question(tokens: &[Token]) -> bool {
    tokens
        .first()
        .is_some_and(|t| QUESTION_START.contains(&t.text))
        || tokens.iter().any(|t| t.after.0 == Some('?'))
}

/// Leading words that do not change whether a lone number is a status ("/diagnose 429").
const FILLER: &[&str] = &[
    "diagnose", "http", "status", "code", "error", "err", "got", "a", "an", "again", "help", "with",
];

/// Finds the HTTP statuses (400–599) the message talks about.
pub(super) fn find_statuses(tokens: &[Token]) -> Vec<Found> {
    let mut found = Vec::new();
    let numeric_tokens = tokens
        .iter()
        .filter(|t| t.text.bytes().all(|b| b.is_ascii_digit()))
        .count();
    // A message that is only a code, maybe with a command word: "429", "/diagnose 503".
    let lone = tokens.iter().filter(|t| !FILLER.contains(&t.text)).count() == 1;
    let question = is_question(tokens);
    for (i, tok) in tokens.iter().enumerate() {
        let Some((code, plural)) = parse_status(tok.text) else {
            continue;
        };
        let prev = i.checked_sub(1).map(|p| tokens[p].text);
        let prev2 = i.checked_sub(2).map(|p| tokens[p].text);
        if glued(tok) && !iis_substatus(tokens, i, prev) {
            continue;
        }
        let next = tokens.get(i + 1).map(|t| t.text);
        // "what about 503?", "how about 502": a follow-up naming another code.
        let asked_about = prev == Some("about") && matches!(prev2, Some("what" | "how"));
        // In a question, "between 401 and 403" and "408 or 504" compare codes.
        let compared = question && prev.is_some_and(|p| matches!(p, "between" | "and" | "or"));
        let next2 = tokens.get(i + 2).map(|t| t.text);
        // "500 paying users", "200 new customers": a quantity with an adjective between.
        // (Units of four letters or more only: "a 405, what am i doing wrong" is no quantity.)
        let quantity = next2.is_some_and(|n| n.len() >= 4 && NOT_STATUS_AFTER.contains(&n))
            && next
                .is_some_and(|n| !STATUS_AFTER.contains(&n) && !reason_starts(code).contains(&n));
        if !asked_about && !compared && prev.is_some_and(|p| NOT_STATUS_BEFORE.contains(&p))
            || next.is_some_and(|n| NOT_STATUS_AFTER.contains(&n))
            || quantity
        {
            continue;
        }
        // An access-log or status line: `"POST /hooks HTTP/1.1" 404`, `HTTP/2 503`.
        let after_protocol = (1..=3).any(|back| {
            i.checked_sub(back)
                .is_some_and(|p| tokens[p].text == "http")
                && tokens[i + 1 - back..i]
                    .iter()
                    .all(|t| t.text.len() == 1 && t.text.bytes().all(|b| b.is_ascii_digit()))
        });
        let before_says = after_protocol
            || prev.is_some_and(|p| STATUS_BEFORE.contains(&p))
            || prev2.is_some_and(|p| {
                matches!(p, "http" | "status" | "code" | "returned" | "got" | "back")
            });
        let after_says =
            next.is_some_and(|n| STATUS_AFTER.contains(&n) || reason_starts(code).contains(&n));
        // "429 / 503 / 500" lists of codes: a neighbour that is itself a status.
        let in_list = numeric_tokens > 1
            && [prev, next]
                .iter()
                .flatten()
                .any(|n| parse_status(n).is_some());
        // A question about a code: "what does 422 mean", "is 503 the same as 502?", "502 vs 504".
        let asked = asked_about
            || next.is_some_and(|n| ASKED_AFTER.contains(&n))
            || prev.is_some_and(|p| matches!(p, "vs" | "versus" | "is" | "does" | "mean"))
            || (question && numeric_tokens <= 3);
        let says_status = plural || before_says || after_says || lone || in_list || asked;
        if says_status && !found.iter().any(|f: &Found| f.code == code) {
            found.push(Found { code, token: i });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::text::tokenize;
    use super::*;

    fn codes(s: &str) -> Vec<u16> {
        find_statuses(&tokenize(s).list())
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn statuses_in_error_context() {
        assert_eq!(codes("HTTP 429"), vec![429]);
        assert_eq!(codes("status code 503"), vec![503]);
        assert_eq!(codes("429 Too Many Requests"), vec![429]);
        assert_eq!(codes("/diagnose 429"), vec![429]);
        assert_eq!(codes("429"), vec![429]);
        assert_eq!(codes("hitting 429s from the billing api"), vec![429]);
        assert_eq!(codes("404 on the /users/me endpoint"), vec![404]);
        assert_eq!(codes("HTTP/1.1 502 Bad Gateway"), vec![502]);
        assert_eq!(
            codes(r#""POST /hooks/vendor HTTP/1.1" 404 153 "-""#),
            vec![404]
        );
        assert_eq!(
            codes("we get 502 / 503 / 504 at random"),
            vec![502, 503, 504]
        );
        assert_eq!(codes("then every call 401s till we restart"), vec![401]);
        assert_eq!(codes("refuses the request. 403 every time"), vec![403]);
    }

    #[test]
    fn iis_sub_statuses_are_statuses_and_versions_are_not() {
        assert_eq!(
            codes("I get \"HTTP Error 401.0 - Unauthorized\""),
            vec![401]
        );
        assert_eq!(codes("IIS says error 500.19 on the api site"), vec![500]);
        assert_eq!(
            codes("this morning I got back a 500 on every call"),
            vec![500]
        );
        assert!(codes("upgraded to 404.0.1 last week").is_empty());
        assert!(codes("error 503.2.1 in the build number").is_empty());
        assert!(codes("we ran 500.0 miles").is_empty());
    }

    #[test]
    fn codes_asked_about_are_statuses() {
        assert_eq!(codes("what does 422 mean"), vec![422]);
        assert_eq!(codes("what about 503?"), vec![503]);
        assert_eq!(codes("is 503 the same as 502?"), vec![503, 502]);
        assert_eq!(codes("502 vs 504"), vec![502, 504]);
        assert_eq!(codes("whats a 409"), vec![409]);
        // Still not statuses, question or not.
        assert!(codes("is the meeting in room 404?").is_empty());
        assert!(codes("did PR #429 land?").is_empty());
        assert!(codes("is v1.4.2 out?").is_empty());
        assert!(codes("what about 500 users?").is_empty());
        assert!(codes("we hit 500 paying users today").is_empty());
        assert_eq!(codes("difference between 401 and 403?"), vec![401, 403]);
        assert_eq!(codes("408 or 504, which one is my fault?"), vec![408, 504]);
    }

    #[test]
    fn numbers_that_are_not_statuses() {
        assert!(codes("room 404 at 3pm").is_empty());
        assert!(codes("we shipped 200 features").is_empty());
        assert!(codes("party in room 500 on friday").is_empty());
        assert!(codes("call me at 503-555-0100").is_empty());
        assert!(codes("PR #401 looks good").is_empty());
        assert!(codes("the 429 bus is late").is_empty());
        assert!(codes("dial tcp 10.0.0.5:443: connect").is_empty());
        assert!(codes("we send 500 requests per minute").is_empty());
        assert!(codes("it costs $450").is_empty());
    }
}
