//! JSON output for scripts: one compact document per result.

use serde::Serialize;

/// One line of JSON for any serializable result.
pub fn line<T: Serialize>(value: &T) -> String {
    // Serializing plain data structs with string keys cannot fail.
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

/// Indented JSON for humans reading a file.
pub fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

/// Keys of the status document that hold epoch milliseconds in the store's data.
const TIME_KEYS: &[&str] = &[
    "since",
    "last_check",
    "started_at",
    "last_alert_at",
    "at",
    "from",
    "until",
];

/// `medic status --json`: every endpoint's status with its times in RFC 3339 (as `check
/// --json` has them), then the endpoints that are not configured.
pub fn status_document(
    statuses: &[crate::alerts::monitor::EndpointStatus],
    not_configured: &[crate::config::NotConfigured],
) -> String {
    let mut items: Vec<serde_json::Value> = statuses
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            times_to_rfc3339(&mut v);
            v
        })
        .collect();
    items.extend(not_configured.iter().map(|n| {
        serde_json::json!({
            "name": n.name,
            "state": "not_configured",
            "reason": n.reason(),
            "line": n.line,
        })
    }));
    pretty(&items)
}

fn times_to_rfc3339(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                match item.as_i64() {
                    Some(ms) if TIME_KEYS.contains(&k.as_str()) => {
                        *item = serde_json::Value::String(crate::clock::rfc3339_ms(ms));
                    }
                    _ => times_to_rfc3339(item),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(times_to_rfc3339),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_times_are_rfc3339() {
        let mut v = serde_json::json!({"since": 0, "incident": {"started_at": 1_700_000_000_123_i64, "failures": 3}, "checks_24h": 5});
        times_to_rfc3339(&mut v);
        assert_eq!(v["since"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["incident"]["started_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["incident"]["failures"], 3);
        assert_eq!(v["checks_24h"], 5);
    }
}
