//! Logs of the Lambda functions: JSON lines when the function's log format is JSON
//! (`AWS_LAMBDA_LOG_FORMAT=JSON`, set by Lambda's advanced logging controls and by the template),
//! plain text otherwise; the level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (a plain level
//! name), default `INFO`. No timestamps in text mode (CloudWatch stamps every line), no colour.

use tracing::level_filters::LevelFilter;

/// The level a plain level name asks for; `None` for anything else.
pub fn level_named(name: &str) -> Option<LevelFilter> {
    match name.trim().to_ascii_lowercase().as_str() {
        "trace" => Some(LevelFilter::TRACE),
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "error" | "fatal" => Some(LevelFilter::ERROR),
        "off" => Some(LevelFilter::OFF),
        _ => None,
    }
}

/// Installs the global subscriber for a Lambda function.
pub fn init_lambda() {
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find_map(|value| level_named(&value))
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false);
    if json {
        builder.json().with_current_span(false).init();
    } else {
        builder.without_time().init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_level_names_only() {
        assert_eq!(level_named("DEBUG"), Some(LevelFilter::DEBUG));
        assert_eq!(level_named(" warn "), Some(LevelFilter::WARN));
        assert_eq!(level_named("fatal"), Some(LevelFilter::ERROR));
        assert_eq!(level_named("shared=debug"), None);
    }
}
