//! The module's life: read, set aside `_ansible_*`, validate, plan, apply, print.

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};

use serde_json::{Map, Value};

use crate::Context;
use crate::fault;
use crate::input::{parse_object, read_raw};
use crate::invoke::Failure;
use crate::module::{Module, Plan};
use crate::options::describe_error;
use crate::output::{Done, render};
use crate::secrets::{mask, register_secret};

/// What Ansible itself shows in place of a secret in `invocation.module_args`.
const NO_LOG_PLACEHOLDER: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";

/// Runs module `M` as Ansible calls it and exits: status 0 on success, 1 on failure.
/// Exactly one JSON object is written to stdout whatever happens; logs go to stderr.
pub fn run<M: Module>() -> ! {
    // The default hook would print the panic message unmasked; the message still
    // reaches the user, masked, in the result's `msg`.
    panic::set_hook(Box::new(|info| {
        eprintln!("{}", mask(&info.to_string()));
    }));
    let result = match read_raw(std::env::args_os().nth(1)) {
        Ok(bytes) => run_with_input::<M>(&bytes),
        Err(msg) => render(Err(msg), Vec::new(), None),
    };
    let failed = result["failed"] == Value::Bool(true);
    let mut stdout = std::io::stdout().lock();
    // Nothing sensible is left to do if stdout is gone; the exit status still says it.
    let _ = writeln!(stdout, "{result}").and_then(|()| stdout.flush());
    std::process::exit(i32::from(failed))
}

/// Runs module `M` on raw argument bytes and returns the result object. A panic
/// anywhere in the module becomes a failed result.
pub fn run_with_input<M: Module>(bytes: &[u8]) -> Value {
    let mut options = match parse_object(bytes) {
        Ok(options) => options,
        Err(msg) => return render(Err(msg), Vec::new(), None),
    };
    // Unreadable run settings fail before anything else: no_log may be among them, so the
    // failure carries no invocation.
    let ctx = match Context::take_from(&mut options) {
        Ok(ctx) => ctx,
        Err(msg) => return render(Err(msg), Vec::new(), None),
    };
    let invocation = redact_secret_options::<M>(&options);
    let result = drive::<M>(options, &ctx).map_err(|failure| failure.to_string());
    render(result, ctx.take_warnings(), Some(invocation))
}

/// The one path every entry point shares: `M`'s secrets registered, then validate →
/// plan → (check mode stops here) → apply. A panic anywhere in it becomes
/// [`Failure::Panicked`]. Messages are not masked yet: each entry point masks its output.
pub(crate) fn drive<M: Module>(
    mut options: Map<String, Value>,
    ctx: &Context,
) -> Result<Done, Failure> {
    panic::catch_unwind(AssertUnwindSafe(|| {
        // Secrets are registered before anything can fail, so that no message (a type
        // error on the secret option itself included) can echo them.
        for name in M::SECRET_OPTIONS {
            if let Some(value) = lookup(&mut options, name) {
                register_value(value);
            }
        }
        validate_plan_apply::<M>(options, ctx)
    }))
    .unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(Failure::Panicked(what))
    })
}

fn validate_plan_apply<M: Module>(
    options: Map<String, Value>,
    ctx: &Context,
) -> Result<Done, Failure> {
    let args: M::Args = serde_path_to_error::deserialize(Value::Object(options))
        .map_err(|err| Failure::Options(describe_error(&err, &[])))?;
    let task = M::validate(args, ctx).map_err(Failure::Invalid)?;
    fault::panic_point("before-plan");
    let plan = M::plan(&task, ctx).map_err(|err| Failure::Failed(format!("{err:#}")))?;
    Ok(match plan {
        Plan::Unchanged(facts) => Done {
            changed: false,
            facts,
            diff: None,
        },
        Plan::Change { diff, facts, .. } if ctx.check_mode => Done {
            changed: true,
            facts,
            diff: ctx.diff.then_some(diff),
        },
        Plan::Change { change, diff, .. } => {
            let applied =
                M::apply(&task, change, ctx).map_err(|err| Failure::Failed(format!("{err:#}")))?;
            Done {
                changed: applied.changed,
                diff: (ctx.diff && applied.changed).then(|| applied.diff.unwrap_or(diff)),
                facts: applied.facts,
            }
        }
    })
}

/// The options of a task as module `M` reads them, defaults filled in (secrets masked):
/// what the sidecar docs' `default:`s must say. Fails with the message a task would get.
pub fn effective_options<M: Module>(options: Map<String, Value>) -> Result<Value, String>
where
    M::Args: serde::Serialize,
{
    let args: M::Args = serde_path_to_error::deserialize(Value::Object(options))
        .map_err(|err| describe_error(&err, &[]))?;
    serde_json::to_value(&args).map_err(|e| e.to_string())
}

fn register_value(value: &Value) {
    match value {
        Value::String(s) => register_secret(s),
        Value::Null => {}
        Value::Array(items) => items.iter().for_each(register_value),
        Value::Object(map) => map.values().for_each(register_value),
        other => register_secret(&other.to_string()),
    }
}

fn redact_secret_options<M: Module>(options: &Map<String, Value>) -> Map<String, Value> {
    let mut shown = options.clone();
    for name in M::SECRET_OPTIONS {
        if let Some(value) = lookup(&mut shown, name)
            && !value.is_null()
        {
            *value = Value::String(NO_LOG_PLACEHOLDER.to_owned());
        }
    }
    shown
}

/// The option at `path`: a name, or `group.name` inside a dict option.
fn lookup<'a>(options: &'a mut Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    let mut parts = path.split('.');
    let mut value = options.get_mut(parts.next()?)?;
    for part in parts {
        value = value.as_object_mut()?.get_mut(part)?;
    }
    Some(value)
}
