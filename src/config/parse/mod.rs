//! From TOML text to a validated [`Config`]: serde reads the shape ([`raw`]; unknown keys and
//! wrong types are caught there, with the span of the offending key), then every value is
//! checked and every problem collected with its line: shared checks in [`values`], one
//! endpoint table in [`endpoint`], its credentials in [`auth`].

mod auth;
mod chunks;
mod endpoint;
mod raw;
mod schema;
mod values;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use super::{
    AlertPolicy, CheckSettings, Config, ConfigError, ConfigErrors, DiscordSettings, NotConfigured,
};
use crate::secrets::SecretSource;
use endpoint::endpoint;
use raw::{RawConfig, RawEndpoint};
use values::{may_be_secret, scrub_quotes, shown, Ctx, REMIND_BOUNDS, RETENTION_BOUNDS};
pub use values::{parse_duration, StatusSet};

/// What serde could read of the file: the tables outside `[[endpoints]]` (the defaults when
/// they are broken: their errors are in `ctx`), each endpoint table read, with the offset its
/// spans start from, and where every endpoint table is. `None` when nothing of the file can
/// be used (a syntax error). Endpoint tables are read one at a time ([`chunks`]); every
/// table's shape errors are reported at once, by [`schema`] in a user's words.
fn read(ctx: &mut Ctx, text: &str) -> Option<Shape> {
    let Some(split) = chunks::split(text) else {
        return read_whole(ctx, text);
    };
    let read_rest = || toml::from_str::<RawConfig>(&split.rest);
    let (rest, tables) = if split.endpoints.len() < TABLES_PER_THREAD {
        (read_rest(), read_tables(text, &split.endpoints))
    } else {
        // The rest (alerts, discord, checks) is read beside the endpoint tables.
        std::thread::scope(|scope| {
            let rest = scope.spawn(read_rest);
            let tables = read_tables(text, &split.endpoints);
            let rest = rest.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (rest, tables)
        })
    };
    if rest.as_ref().is_ok_and(|r| !r.endpoints.is_empty()) && !split.endpoints.is_empty() {
        // `endpoints = [...]` and `[[endpoints]]` in one file: TOML forbids it, and only the
        // whole-file reader says so.
        return read_whole(ctx, text);
    }
    let rest = match rest {
        Ok(rest) => rest,
        Err(e) => {
            let checked = schema::check(ctx, &split.rest);
            if checked.found == 0 {
                shape_error(ctx, 0, &e);
            }
            // What is left once the refused keys are gone is still checked.
            checked
                .without_bad_keys
                .and_then(|t| toml::from_str::<RawConfig>(&t).ok())
                .unwrap_or_default()
        }
    };
    let mut shape = Shape {
        rest,
        endpoints: Vec::with_capacity(split.endpoints.len()),
        tables: Vec::with_capacity(split.endpoints.len()),
    };
    for ((start, table), range) in tables.into_iter().zip(&split.endpoints) {
        let lines = ctx.lines.line(range.start)..ctx.lines.line(range.end.saturating_sub(1)) + 1;
        match table {
            Ok(t) => shape.add(start, lines, t),
            Err(e) => {
                let chunk = &text[range.clone()];
                ctx.base = start;
                let checked = schema::check(ctx, chunk);
                ctx.base = 0;
                if checked.found == 0 {
                    shape_error(ctx, start, &e);
                }
                // The table without its refused keys, so its other values are checked too.
                let retry = checked
                    .without_bad_keys
                    .and_then(|t| toml::from_str::<EndpointTable>(&t).ok());
                match retry {
                    Some(t) => shape.add(start, lines, t),
                    None => {
                        let name = schema::endpoint_name(chunk);
                        shape.tables.push(TableLines { lines, name });
                    }
                }
            }
        }
    }
    Some(shape)
}

/// What [`read`] found.
struct Shape {
    rest: RawConfig,
    endpoints: Vec<(usize, RawEndpoint)>,
    tables: Vec<TableLines>,
}

impl Shape {
    /// One endpoint table read, starting at byte `start` of the file.
    fn add(&mut self, start: usize, lines: Range<usize>, table: EndpointTable) {
        let name = table
            .endpoints
            .first()
            .map(|e| e.name.get_ref().trim().to_string());
        self.tables.push(TableLines { lines, name });
        self.endpoints
            .extend(table.endpoints.into_iter().map(|e| (start, e)));
    }
}

/// The lines one `[[endpoints]]` table spans, and its name when it could be read.
#[derive(Debug, Clone)]
pub(super) struct TableLines {
    pub(super) lines: Range<usize>,
    pub(super) name: Option<String>,
}

/// Below this many endpoint tables one thread reads them all.
const TABLES_PER_THREAD: usize = 2_000;

/// Reads each endpoint table, in file order; large files on several threads (tables are
/// independent, and TOML reading is most of the time of a start with thousands of them).
fn read_tables(
    text: &str,
    ranges: &[Range<usize>],
) -> Vec<(usize, Result<EndpointTable, toml::de::Error>)> {
    let one = |r: &Range<usize>| (r.start, toml::from_str::<EndpointTable>(&text[r.clone()]));
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ranges.len() / TABLES_PER_THREAD)
        .max(1);
    if threads == 1 {
        return ranges.iter().map(one).collect();
    }
    let per = ranges.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = ranges
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            // A reader that panicked is a bug in the TOML crate; re-raise it here.
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The whole file read at once: for files the split does not handle, and for the parser's
/// own message on a syntax error.
fn read_whole(ctx: &mut Ctx, text: &str) -> Option<Shape> {
    match toml::from_str::<RawConfig>(text) {
        Ok(rest) => Some(Shape {
            rest,
            endpoints: Vec::new(),
            tables: Vec::new(),
        }),
        Err(e) => {
            let checked = schema::check(ctx, text);
            if checked.found == 0 {
                shape_error(ctx, 0, &e);
            }
            let rest = checked
                .without_bad_keys
                .and_then(|t| toml::from_str::<RawConfig>(&t).ok())?;
            Some(Shape {
                rest,
                endpoints: Vec::new(),
                tables: Vec::new(),
            })
        }
    }
}

/// One `[[endpoints]]` table read by itself.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointTable {
    endpoints: Vec<RawEndpoint>,
}

/// A TOML syntax or shape error at its line, its quoted values not repeated.
fn shape_error(ctx: &mut Ctx, base: usize, e: &toml::de::Error) {
    let message = scrub_quotes(e.message().trim());
    match e.span() {
        Some(span) => {
            ctx.base = base;
            ctx.error(&span, message);
            ctx.base = 0;
        }
        None => ctx.errors.push(ConfigError {
            file: ctx.file.into(),
            line: None,
            column: None,
            message,
        }),
    }
}

/// Longest endpoint name: what a Discord autocomplete choice can carry.
pub(super) const MAX_ENDPOINT_NAME: usize = 100;

/// Everything parsing found: the configuration with every endpoint that is right, and every
/// problem, sorted by line and column.
pub(super) struct Parsed {
    pub(super) config: Config,
    pub(super) errors: Vec<ConfigError>,
    /// Where each `[[endpoints]]` table is; empty when the file could not be split into them.
    pub(super) tables: Vec<TableLines>,
}

impl Parsed {
    /// The configuration if nothing is wrong, else every problem.
    pub(super) fn strict(self) -> Result<Config, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(self.config)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    /// The configuration without the endpoints that have problems, which are listed as not
    /// configured; every problem when any lies outside an endpoint table.
    pub(super) fn lenient(self) -> Result<Config, ConfigErrors> {
        let mut by_table: Vec<Vec<ConfigError>> = vec![Vec::new(); self.tables.len()];
        for e in &self.errors {
            let table = e
                .line
                .and_then(|line| self.tables.iter().position(|t| t.lines.contains(&line)));
            match table {
                Some(i) => by_table[i].push(e.clone()),
                None => return Err(ConfigErrors(self.errors)),
            }
        }
        let mut config = self.config;
        for (table, problems) in self.tables.into_iter().zip(by_table) {
            if problems.is_empty() {
                continue;
            }
            let line = table.lines.start;
            // The endpoint (if it was built at all) leaves the configuration.
            config.endpoints.retain(|e| !table.lines.contains(&e.line));
            let name = table
                .name
                .filter(|n| {
                    !n.is_empty() && !may_be_secret(n) && n.chars().count() <= MAX_ENDPOINT_NAME
                })
                .unwrap_or_else(|| format!("(endpoint on line {line})"));
            config.not_configured.push(NotConfigured {
                name,
                line,
                problems,
            });
        }
        Ok(config)
    }
}

pub(super) fn parse(file: &str, text: &str, base_dir: &Path, secrets: &dyn SecretSource) -> Parsed {
    let mut ctx = Ctx::new(file, text);
    let Some(Shape {
        rest: raw,
        endpoints: tables,
        tables: table_lines,
    }) = read(&mut ctx, text)
    else {
        let mut errors = ctx.errors;
        crate::located::sort(&mut errors);
        return Parsed {
            config: Config::default(),
            errors,
            tables: Vec::new(),
        };
    };

    let defaults = AlertPolicy::default();
    let mut alerts = AlertPolicy {
        failure_threshold: raw
            .alerts
            .failure_threshold
            .as_ref()
            .map_or(defaults.failure_threshold, |v| *v.get_ref()),
        success_threshold: raw
            .alerts
            .success_threshold
            .as_ref()
            .map_or(defaults.success_threshold, |v| *v.get_ref()),
        remind_every: ctx
            .bounded("remind_every", &raw.alerts.remind_every, &REMIND_BOUNDS)
            .unwrap_or(defaults.remind_every),
        cert_warn_days: raw.alerts.cert_warn_days.unwrap_or(defaults.cert_warn_days),
        // Zero (or a second) would delete every check, incident and alert at the next prune.
        retention: ctx
            .bounded("retention", &raw.alerts.retention, &RETENTION_BOUNDS)
            .unwrap_or(defaults.retention),
    };
    for (key, v) in [
        ("failure_threshold", &raw.alerts.failure_threshold),
        ("success_threshold", &raw.alerts.success_threshold),
    ] {
        if let Some(v) = v {
            if *v.get_ref() == 0 {
                ctx.error(&v.span(), format!("{key} must be at least 1"));
            }
        }
    }
    if alerts.failure_threshold == 0 {
        alerts.failure_threshold = 1;
    }

    let mut checks = CheckSettings::default();
    if let Some(c) = ctx.bounded_int(
        "concurrency",
        &raw.checks.concurrency,
        1,
        super::MAX_CONCURRENCY as i64,
    ) {
        checks.concurrency = c as usize;
    }

    let mut endpoints = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let root = raw.endpoints.into_iter().map(|e| (0, e));
    for (base, raw_ep) in root.chain(tables) {
        ctx.base = base;
        let name_line = ctx.line(&raw_ep.name.span());
        let name = raw_ep.name.get_ref().trim().to_string();
        if name.is_empty() {
            ctx.error(&raw_ep.name.span(), "name is empty");
        } else if may_be_secret(&name) {
            // Names are shown everywhere (autocomplete, alerts, logs): one that holds a key
            // would publish it. Later messages about this endpoint must not repeat it either.
            ctx.error(
                &raw_ep.name.span(),
                format!("name: {}; use a short descriptive name such as \"payments-api\" and put the credential in `auth`", shown(&name)),
            );
        } else if name.chars().count() > MAX_ENDPOINT_NAME {
            // Discord autocomplete values are at most 100 characters: a longer name could be
            // offered only cut short, and a cut name matches no endpoint.
            ctx.error(
                &raw_ep.name.span(),
                format!(
                    "name is {} characters long; at most {MAX_ENDPOINT_NAME} are allowed",
                    name.chars().count()
                ),
            );
        } else if let Some(first) = seen.get(&name) {
            ctx.error(
                &raw_ep.name.span(),
                format!(
                    "duplicate endpoint name {} (first defined on line {first})",
                    shown(&name)
                ),
            );
        } else {
            seen.insert(name.clone(), name_line);
        }
        if let Some(ep) = endpoint(&mut ctx, name, name_line, raw_ep, base_dir, secrets) {
            endpoints.push(ep);
        }
    }
    ctx.base = 0;

    let discord = DiscordSettings {
        listen_channels: raw.discord.listen_channels,
        check_roles: raw.discord.check_roles,
        alert_channel: raw.discord.alert_channel,
        mention_role: raw.discord.mention_role,
        message_content: raw.discord.message_content,
    };

    let mut errors = ctx.errors;
    crate::located::sort(&mut errors);
    Parsed {
        config: Config {
            endpoints,
            discord,
            alerts,
            checks,
            not_configured: Vec::new(),
            source: None,
        },
        errors,
        tables: table_lines,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Auth;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse("medic.toml", text, Path::new("."), &env).strict()
    }

    #[test]
    fn discord_message_content_defaults_to_true() {
        assert!(load("", &[]).unwrap().discord.message_content);
        let c = load("[discord]\nmessage_content = false\n", &[]).unwrap();
        assert!(!c.discord.message_content);
        let err = load("[discord]\nmessage_content = \"no\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("medic.toml:2"), "{err}");
    }

    #[test]
    fn endpoint_names_fit_an_autocomplete_value() {
        let ok = format!(
            "[[endpoints]]\nname = \"{}\"\nurl = \"http://127.0.0.1/\"\n",
            "a".repeat(MAX_ENDPOINT_NAME)
        );
        assert!(load(&ok, &[]).is_ok());
        let long = format!(
            "\n[[endpoints]]\nname = \"{}\"\nurl = \"http://127.0.0.1/\"\n",
            "é".repeat(MAX_ENDPOINT_NAME + 1)
        );
        let err = load(&long, &[]).unwrap_err().to_string();
        assert!(
            err.contains("medic.toml:3") && err.contains("at most 100"),
            "{err}"
        );
    }

    #[test]
    fn full_endpoint() {
        let c = load(
            r#"
[alerts]
remind_every = "0"

[[endpoints]]
name = "payments-api"
url = "https://api.example.com/v1/health"
timeout = "5s"
interval = "60s"
expect_status = [200, "3xx"]
expect_content_type = "application/json"
auth = { kind = "bearer", token_env = "PAYMENTS_TOKEN" }
alerts = { failure_threshold = 5 }
"#,
            &[("PAYMENTS_TOKEN", "tok")],
        )
        .unwrap();
        let e = &c.endpoints[0];
        assert_eq!(e.timeout, Duration::from_secs(5));
        assert!(e.expect_status.contains(301) && !e.expect_status.contains(204));
        assert!(matches!(&e.auth, Some(Auth::Bearer { token, .. }) if token.expose() == "tok"));
        assert_eq!(e.alert_policy(&c.alerts).failure_threshold, 5);
        assert_eq!(c.alerts.remind_every, Duration::ZERO);
    }

    #[test]
    fn errors_have_lines() {
        let errs = load(
            "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ntimeout = \"5 parsecs\"\n\n[[endpoints]]\nname = \"a\"\nurl = \"nope\"\nauth = { kind = \"bearer\", token_env = \"MISSING_X\" }\n",
            &[],
        )
        .unwrap_err();
        let text = errs.to_string();
        assert!(text.contains("medic.toml:4:11: timeout"), "{text}");
        assert!(
            text.contains("medic.toml:7:8: duplicate endpoint name `a`"),
            "{text}"
        );
        assert!(text.contains("medic.toml:8:7: url"), "{text}");
        assert!(
            text.contains("medic.toml:9:39: token_env: environment variable `MISSING_X`"),
            "{text}"
        );
    }

    #[test]
    fn shape_errors_of_every_endpoint_table_at_once_at_their_lines() {
        let errs = load(
            "[alerts]\nremind_every = \"1h\"\n\n[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ntimeuot = \"5s\"\n\n[[endpoints]]\nname = \"b\"\nurl = \"https://b.example\"\n[endpoints.alerts]\nfailure_threshold = \"three\"\n\n[checks]\nconcurency = 4\n",
            &[],
        )
        .unwrap_err();
        let text = errs.to_string();
        assert!(text.contains("medic.toml:7:"), "{text}");
        assert!(text.contains("timeuot"), "{text}");
        assert!(text.contains("medic.toml:13:"), "{text}");
        assert!(text.contains("medic.toml:16:"), "{text}");
        assert_eq!(errs.0.len(), 3, "{text}");
    }

    #[test]
    fn thousands_of_tables_read_on_threads_keep_their_order_and_lines() {
        let n = TABLES_PER_THREAD * 2 + 500;
        let mut text = String::from("[alerts]\nremind_every = \"1h\"\n");
        for i in 0..n {
            text.push_str(&format!(
                "\n[[endpoints]]\nname = \"ep-{i}\"\nurl = \"https://a{i}.example\"\n"
            ));
        }
        let c = load(&text, &[]).unwrap();
        assert_eq!(c.endpoints.len(), n);
        for (i, e) in c.endpoints.iter().enumerate() {
            assert_eq!(e.name, format!("ep-{i}"));
            // Header on line 4 + 4 i, its name on the next line.
            assert_eq!(e.line, 5 + 4 * i);
        }
        // One wrong table among them is reported at its line.
        let broken = text.replace("name = \"ep-3000\"", "nmae = \"ep-3000\"");
        let err = load(&broken, &[]).unwrap_err().to_string();
        assert!(
            err.contains(&format!("medic.toml:{}:", 5 + 4 * 3000)),
            "{err}"
        );
    }

    #[test]
    fn an_inline_endpoint_array_and_endpoint_tables_in_one_file_are_refused() {
        let text = "endpoints = [{ name = \"a\", url = \"https://a.example\" }]\n\n[[endpoints]]\nname = \"b\"\nurl = \"https://b.example\"\n";
        assert!(load(text, &[]).is_err());
    }

    #[test]
    fn endpoint_sub_tables_belong_to_their_endpoint() {
        let c = load(
            "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\n[endpoints.alerts]\nfailure_threshold = 5\n[endpoints.headers]\nX-Source = \"medic\"\n\n[discord]\nmessage_content = false\n\n[[endpoints]]\nname = \"b\"\nurl = \"https://b.example\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(c.endpoints[0].alerts.failure_threshold, Some(5));
        assert_eq!(c.endpoints[0].headers.len(), 1);
        assert_eq!(c.endpoints[1].name, "b");
        assert_eq!(c.endpoints[1].line, 13);
        assert!(!c.discord.message_content);
    }

    #[test]
    fn unknown_key_has_line() {
        let errs = load(
            "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\ntimout = \"5s\"\n",
            &[],
        )
        .unwrap_err();
        assert!(
            errs.to_string()
                .starts_with("medic.toml:4:1: unknown field `timout`; did you mean `timeout`?"),
            "{errs}"
        );
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;
    use crate::config::Endpoint;

    #[test]
    fn names_with_numbers_are_names_not_secrets() {
        for name in ["endpoint-100", "payments-2024", "billing-v2"] {
            assert!(!may_be_secret(name), "{name}");
        }
        for secret in ["AKIAIOSFODNN7EXAMPLE", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"] {
            assert!(may_be_secret(secret), "{secret}");
        }
    }

    #[test]
    fn a_pasted_secret_is_not_echoed() {
        let text = "[[endpoints]]\nname = \"a\"\nurl = \"https://a.example\"\nauth = { kind = \"bearer\", token_env = \"sk-live-9f8e7d\" }\n";
        let err = parse("medic.toml", text, Path::new("."), &HashMap::new())
            .strict()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("medic.toml:4:39: token_env must name an environment variable"),
            "{err}"
        );
        assert!(!err.contains("sk-live-9f8e7d"), "{err}");
    }

    #[test]
    fn adhoc_errors_do_not_echo_the_url() {
        let err = Endpoint::adhoc("https://bob:hunter 2@exa mple.com/")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter"), "{err}");
    }
}
