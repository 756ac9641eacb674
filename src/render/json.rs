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
