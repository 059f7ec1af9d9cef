//! Turning serde's wording into the option-level messages a playbook author needs.

/// Describes a failure to read options: `option '<name>': <problem>`, and for an
/// unknown option the list of valid ones (plus `extra_valid`, from option groups).
pub(crate) fn describe_error(
    err: &serde_path_to_error::Error<serde_json::Error>,
    extra_valid: &[&str],
) -> String {
    let path = err.path().to_string();
    let inner = err.inner().to_string();
    if let Some(rest) = inner.strip_prefix("unknown field ") {
        let (field, valid) = rest.split_once(", ").unwrap_or((rest, ""));
        let mut valid: Vec<String> = valid
            .trim_start_matches("expected one of ")
            .trim_start_matches("expected ")
            .split(", ")
            .map(|name| name.replace('`', ""))
            .filter(|name| !name.is_empty() && name != "there are no fields")
            .collect();
        valid.extend(extra_valid.iter().map(|name| (*name).to_owned()));
        return format!(
            "unsupported option {}; valid options are: {}",
            field.replace('`', "'"),
            valid.join(", ")
        );
    }
    let message = match inner.strip_prefix("missing field ") {
        Some(field) => format!("missing required option {}", field.replace('`', "'")),
        None => inner.replace("unknown variant", "invalid value"),
    };
    if path == "." || path.is_empty() {
        message
    } else if let Some(rest) = message.strip_prefix("option '") {
        // A message from a nested group names the option inside it: `source.login_port`.
        format!("option '{path}.{rest}")
    } else {
        format!("option '{path}': {message}")
    }
}
