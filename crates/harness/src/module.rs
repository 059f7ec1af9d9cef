//! How a module describes itself to the harness: validate, plan, apply.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Context;

/// Module-specific keys of the result (`flag`, `instances`, ...).
pub type Facts = Map<String, Value>;

/// `before`/`after` of what a task changes, shown by `ansible-playbook --diff`.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub before: Value,
    pub after: Value,
}

impl Diff {
    pub fn new(before: Value, after: Value) -> Diff {
        Diff { before, after }
    }
}

/// What [`Module::plan`] found.
#[derive(Debug)]
pub enum Plan<C> {
    /// The current state is the wanted one: nothing will be touched.
    Unchanged(Facts),
    /// `change` would be applied. In check mode the harness reports `facts` and `diff`
    /// and stops; otherwise it hands `change` to [`Module::apply`].
    Change { change: C, diff: Diff, facts: Facts },
}

/// What [`Module::apply`] did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Result keys describing the state after the change.
    pub facts: Facts,
    /// Set when the change made differs from the plan's (another writer got in between
    /// and the module re-planned); otherwise the plan's diff is reported.
    pub diff: Option<Diff>,
    /// False when, by the time the change was to be made, there was nothing left to do.
    pub changed: bool,
}

impl Applied {
    pub fn changed(facts: Facts) -> Applied {
        Applied {
            facts,
            diff: None,
            changed: true,
        }
    }
}

/// A user option that is wrong, with what would make it right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOption {
    pub option: String,
    pub message: String,
}

impl InvalidOption {
    pub fn new(option: impl Into<String>, message: impl Into<String>) -> InvalidOption {
        InvalidOption {
            option: option.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InvalidOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option '{}': {}", self.option, self.message)
    }
}

impl std::error::Error for InvalidOption {}

/// One Ansible module: raw options → validated task → plan → apply.
///
/// The harness calls [`validate`](Module::validate) before anything is touched, stops
/// after [`plan`](Module::plan) in check mode or when there is nothing to do, and calls
/// [`apply`](Module::apply) with exactly the planned change.
pub trait Module {
    /// The options as the task wrote them. Use `#[serde(deny_unknown_fields)]` so that a
    /// misspelt option is refused with the list of valid ones.
    type Args: DeserializeOwned;
    /// The validated task: every check has passed.
    type Task;
    /// The change [`apply`](Module::apply) makes.
    type Change;

    /// Options whose values are masked in every output, even when they fail to parse;
    /// `group.name` names an option inside a dict option.
    const SECRET_OPTIONS: &'static [&'static str] = &[];

    fn validate(args: Self::Args, ctx: &Context) -> Result<Self::Task, InvalidOption>;

    /// Reads the current state (and nothing else) and decides what to change.
    fn plan(task: &Self::Task, ctx: &Context) -> anyhow::Result<Plan<Self::Change>>;

    fn apply(task: &Self::Task, change: Self::Change, ctx: &Context) -> anyhow::Result<Applied>;
}
