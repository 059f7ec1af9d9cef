//! The harness in-process: a program that links a module (the `poseidon` CLI) runs it on
//! options it built itself, through the same validate → plan → apply path and the same
//! secret masking as a module binary, and gets a typed result instead of the protocol's
//! JSON. Only the harness knows `_ansible_*` keys, `failed` and `msg`.

use serde_json::{Map, Value};

use crate::Context;
use crate::module::{Diff, Facts, InvalidOption, Module};
use crate::run::drive;
use crate::secrets::{mask, mask_value};

/// Whether the module may change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply the plan.
    Apply,
    /// Stop after planning and report what would change (Ansible's check mode).
    Check,
}

/// A run that did not fail. Every secret is masked.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Something was changed (in [`Mode::Check`]: would be).
    pub changed: bool,
    /// The module's result keys (`instances`, `plan`, ...).
    pub facts: Facts,
    /// `before`/`after` of the change, when there was one.
    pub diff: Option<Diff>,
    pub warnings: Vec<String>,
}

/// Why a run failed. Every secret is masked; warnings of a failed run are dropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// The options do not parse: an unknown option (the message lists the valid ones), a
    /// wrong type, a missing required option.
    #[error("{0}")]
    Options(String),
    /// The options parse but are refused by the module's validation.
    #[error(transparent)]
    Invalid(InvalidOption),
    /// Planning or applying failed; the message has the whole error chain.
    #[error("{0}")]
    Failed(String),
    /// The module panicked; the panic's message.
    #[error("internal error, the module panicked: {0}")]
    Panicked(String),
}

impl Failure {
    fn masked(self) -> Failure {
        match self {
            Failure::Options(msg) => Failure::Options(mask(&msg)),
            Failure::Invalid(invalid) => Failure::Invalid(InvalidOption::new(
                mask(&invalid.option),
                mask(&invalid.message),
            )),
            Failure::Failed(msg) => Failure::Failed(mask(&msg)),
            Failure::Panicked(msg) => Failure::Panicked(mask(&msg)),
        }
    }
}

/// Runs module `M` on `options` (the user's options only: an `_ansible_*` key is refused
/// like any unknown option). The diff is always reported when something changes.
pub fn invoke<M: Module>(options: Map<String, Value>, mode: Mode) -> Result<Outcome, Failure> {
    let mut ctx = Context::default();
    ctx.check_mode = mode == Mode::Check;
    ctx.diff = true;
    let result = drive::<M>(options, &ctx);
    let warnings = ctx.take_warnings().iter().map(|w| mask(w)).collect();
    let done = result.map_err(Failure::masked)?;
    let mut facts = Value::Object(done.facts);
    mask_value(&mut facts);
    let Value::Object(facts) = facts else {
        unreachable!("masking keeps an object an object")
    };
    Ok(Outcome {
        changed: done.changed,
        facts,
        diff: done.diff.map(|mut diff| {
            mask_value(&mut diff.before);
            mask_value(&mut diff.after);
            diff
        }),
        warnings,
    })
}
