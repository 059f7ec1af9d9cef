//! What Ansible tells a module about the run, from the `_ansible_*` keys.

use std::cell::RefCell;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::de::parse_bool;

/// The run's settings, set aside from the user's options.
///
/// Unknown `_ansible_*` keys are ignored: every ansible-core release adds some. A key the
/// harness reads but cannot understand fails the task: a `_ansible_check_mode` of
/// `"maybe"` read as false would let a check run write.
#[derive(Debug, Default)]
pub struct Context {
    /// `--check`: the module must change nothing and report what it would do.
    pub check_mode: bool,
    /// `--diff`: report `before`/`after` of what changed.
    pub diff: bool,
    /// `no_log: true` on the task: nothing about the values may be logged.
    pub no_log: bool,
    /// Number of `-v` flags.
    pub verbosity: u8,
    /// The name the task used, e.g. `poseidon.deploy.feature_flag`.
    pub module_name: Option<String>,
    /// The ansible-core version of the controller.
    pub ansible_version: Option<String>,
    /// A temporary directory Ansible made for this task and removes after it.
    pub tmpdir: Option<PathBuf>,
    warnings: RefCell<Vec<String>>,
}

impl Context {
    /// Splits `_ansible_*` keys out of `options`, leaving only the user's options there.
    /// Fails naming the key whose value is not what Ansible sends.
    pub(crate) fn take_from(options: &mut Map<String, Value>) -> Result<Context, String> {
        let internal: Vec<String> = options
            .keys()
            .filter(|key| key.starts_with("_ansible_"))
            .cloned()
            .collect();
        let mut ctx = Context::default();
        for key in internal {
            let value = options.remove(&key).unwrap_or(Value::Null);
            let flag = || {
                parse_bool(&value).ok_or_else(|| {
                    format!("{key} is {value}: the harness reads only a boolean there")
                })
            };
            match &key["_ansible_".len()..] {
                "check_mode" => ctx.check_mode = flag()?,
                "diff" => ctx.diff = flag()?,
                "no_log" => ctx.no_log = flag()?,
                "verbosity" => {
                    ctx.verbosity = value
                        .as_u64()
                        .map(|v| u8::try_from(v).unwrap_or(u8::MAX))
                        .ok_or_else(|| {
                            format!("{key} is {value}: the harness reads only a count there")
                        })?
                }
                "module_name" => ctx.module_name = value.as_str().map(str::to_owned),
                "version" => ctx.ansible_version = value.as_str().map(str::to_owned),
                "tmpdir" => ctx.tmpdir = value.as_str().map(PathBuf::from),
                _ => {}
            }
        }
        Ok(ctx)
    }

    /// Adds a warning that Ansible shows after the task.
    pub fn warn(&self, message: impl Into<String>) {
        self.warnings.borrow_mut().push(message.into());
    }

    pub(crate) fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn internal_keys_are_set_aside_and_unknown_ones_ignored() {
        let mut options = json!({
            "name": "x",
            "_ansible_check_mode": true,
            "_ansible_diff": "yes",
            "_ansible_verbosity": 3,
            "_ansible_module_name": "poseidon.deploy.feature_flag",
            "_ansible_some_future_key": {"a": 1},
        })
        .as_object()
        .cloned()
        .unwrap();
        let ctx = Context::take_from(&mut options).unwrap();
        assert!(ctx.check_mode);
        assert!(ctx.diff);
        assert!(!ctx.no_log);
        assert_eq!(ctx.verbosity, 3);
        assert_eq!(
            ctx.module_name.as_deref(),
            Some("poseidon.deploy.feature_flag")
        );
        assert_eq!(options.keys().collect::<Vec<_>>(), ["name"]);
    }

    #[test]
    fn a_run_setting_it_cannot_read_fails_naming_the_key() {
        for (key, value) in [
            ("_ansible_check_mode", json!("maybe")),
            ("_ansible_diff", json!(null)),
            ("_ansible_no_log", json!([true])),
            ("_ansible_verbosity", json!("loud")),
        ] {
            let mut options = json!({"name": "x", key: value})
                .as_object()
                .cloned()
                .unwrap();
            let err = Context::take_from(&mut options).unwrap_err();
            assert!(err.starts_with(key), "{err}");
        }
    }
}
