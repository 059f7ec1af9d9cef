//! What a change to a flag will do, decided from its current state alone (pure).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Flag, FlagName, FlagState, Mirror};

/// A change to a list field (`users`, `groups`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListUpdate {
    /// The list becomes exactly these items.
    Replace(BTreeSet<String>),
    /// These items are added; others stay.
    Add(BTreeSet<String>),
    /// These items are removed; others stay.
    Remove(BTreeSet<String>),
}

impl ListUpdate {
    fn apply_to(&self, list: &mut BTreeSet<String>) {
        match self {
            ListUpdate::Replace(items) => list.clone_from(items),
            ListUpdate::Add(items) => list.extend(items.iter().cloned()),
            ListUpdate::Remove(items) => list.retain(|item| !items.contains(item)),
        }
    }
}

/// The fields an update sets; `None` leaves a field as it is (or at its default when
/// the flag is created), so that writers of different fields do not undo each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagUpdate {
    pub state: Option<FlagState>,
    pub percentage: Option<u8>,
    pub users: Option<ListUpdate>,
    pub groups: Option<ListUpdate>,
    pub description: Option<String>,
    /// `Some(None)` removes the mirror key.
    pub mirror: Option<Option<Mirror>>,
}

/// What the flag should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    Present(FlagUpdate),
    Absent,
}

impl Desired {
    /// The mirror key the flag will have after the change, given its current state:
    /// the one whose value must be read to know whether it is in step.
    pub fn mirror_after<'a>(&'a self, current: Option<&'a Flag>) -> Option<&'a Mirror> {
        match self {
            Desired::Absent => None,
            Desired::Present(FlagUpdate {
                mirror: Some(mirror),
                ..
            }) => mirror.as_ref(),
            Desired::Present(_) => current.and_then(|flag| flag.mirror.as_ref()),
        }
    }
}

/// The decided change: the flag before and after (`None`: absent), and whether the
/// mirror key must be rewritten although the flag itself stays the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagPlan {
    pub before: Option<Flag>,
    pub after: Option<Flag>,
    /// The mirror key's current value (`None`: missing), as read when planning.
    pub mirror_value: Option<String>,
}

impl FlagPlan {
    fn mirror_in_step(&self) -> bool {
        match &self.after {
            Some(Flag {
                mirror: Some(mirror),
                state,
                ..
            }) => self.mirror_value.as_deref() == Some(mirror.value_for(*state)),
            _ => true,
        }
    }

    /// Nothing to write: the flag and its mirror key are already as wanted.
    pub fn is_noop(&self) -> bool {
        self.before == self.after && self.mirror_in_step()
    }

    /// `create`, `update` or `delete`, as recorded in the audit stream.
    pub fn action(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, Some(_)) => "create",
            (Some(_), None) => "delete",
            _ => "update",
        }
    }

    /// The flag before the change as shown in a diff; a mirror key shows its value.
    pub fn before_view(&self) -> Value {
        view(self.before.as_ref(), self.mirror_value.as_deref())
    }

    /// The flag after the change as shown in a diff.
    pub fn after_view(&self) -> Value {
        let expected = self
            .after
            .as_ref()
            .and_then(|f| f.mirror.as_ref().map(|m| m.value_for(f.state)));
        view(self.after.as_ref(), expected)
    }
}

fn view(flag: Option<&Flag>, mirror_value: Option<&str>) -> Value {
    let Some(flag) = flag else {
        return json!({});
    };
    let mut value = serde_json::to_value(flag).unwrap_or_default();
    if let (Some(_), Some(map)) = (&flag.mirror, value.as_object_mut()) {
        map.insert("mirror_value".into(), json!(mirror_value));
    }
    value
}

/// Decides what `desired` means for a flag that currently is `current`, whose mirror
/// key (the one [`Desired::mirror_after`] names) holds `mirror_value`.
pub fn plan(
    name: &FlagName,
    current: Option<&Flag>,
    mirror_value: Option<&str>,
    desired: &Desired,
) -> FlagPlan {
    let after = match desired {
        Desired::Absent => None,
        Desired::Present(update) => {
            let mut flag = current.cloned().unwrap_or_else(|| Flag::new(name.clone()));
            if let Some(state) = update.state {
                flag.state = state;
            }
            if let Some(percentage) = update.percentage {
                flag.percentage = percentage;
            }
            if let Some(users) = &update.users {
                users.apply_to(&mut flag.users);
            }
            if let Some(groups) = &update.groups {
                groups.apply_to(&mut flag.groups);
            }
            if let Some(description) = &update.description {
                flag.description.clone_from(description);
            }
            if let Some(mirror) = &update.mirror {
                flag.mirror.clone_from(mirror);
            }
            Some(flag)
        }
    };
    FlagPlan {
        before: current.cloned(),
        after,
        mirror_value: mirror_value.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> FlagName {
        FlagName::new("search").unwrap()
    }

    fn enable() -> Desired {
        Desired::Present(FlagUpdate {
            state: Some(FlagState::Enabled),
            ..FlagUpdate::default()
        })
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn creating_fills_unsaid_fields_with_defaults() {
        let p = plan(&name(), None, None, &enable());
        assert_eq!(p.action(), "create");
        let after = p.after.unwrap();
        assert_eq!(after.state, FlagState::Enabled);
        assert_eq!(after.percentage, 100);
        assert!(after.users.is_empty());
    }

    #[test]
    fn same_state_is_a_noop_and_absent_of_absent_too() {
        let current = plan(&name(), None, None, &enable()).after.unwrap();
        assert!(plan(&name(), Some(&current), None, &enable()).is_noop());
        assert!(plan(&name(), None, None, &Desired::Absent).is_noop());
        let delete = plan(&name(), Some(&current), None, &Desired::Absent);
        assert!(!delete.is_noop());
        assert_eq!(delete.action(), "delete");
    }

    #[test]
    fn unsaid_fields_keep_their_value() {
        let mut current = Flag::new(name());
        current.percentage = 30;
        current.users = set(&["alice"]);
        let p = plan(&name(), Some(&current), None, &enable());
        let after = p.after.unwrap();
        assert_eq!(after.percentage, 30);
        assert_eq!(after.users, set(&["alice"]));
    }

    #[test]
    fn list_updates_replace_add_remove() {
        let mut current = Flag::new(name());
        current.users = set(&["a", "b"]);
        let with = |users| {
            let desired = Desired::Present(FlagUpdate {
                users: Some(users),
                ..FlagUpdate::default()
            });
            plan(&name(), Some(&current), None, &desired)
                .after
                .unwrap()
                .users
        };
        assert_eq!(with(ListUpdate::Replace(set(&["c"]))), set(&["c"]));
        assert_eq!(with(ListUpdate::Add(set(&["c"]))), set(&["a", "b", "c"]));
        assert_eq!(with(ListUpdate::Remove(set(&["a"]))), set(&["b"]));
        let p = plan(
            &name(),
            Some(&current),
            None,
            &Desired::Present(FlagUpdate {
                users: Some(ListUpdate::Add(set(&["a"]))),
                ..FlagUpdate::default()
            }),
        );
        assert!(p.is_noop(), "adding a present user changes nothing");
    }

    #[test]
    fn a_stale_mirror_key_is_rewritten_even_if_the_flag_is_unchanged() {
        let mut current = Flag::new(name());
        current.state = FlagState::Enabled;
        current.mirror = Some(Mirror {
            key: "featureOffSearch".into(),
            invert: true,
        });
        let stale = plan(&name(), Some(&current), Some("true"), &enable());
        assert!(!stale.is_noop());
        assert_eq!(stale.before_view()["mirror_value"], "true");
        assert_eq!(stale.after_view()["mirror_value"], "false");
        assert!(plan(&name(), Some(&current), Some("false"), &enable()).is_noop());
        assert!(!plan(&name(), Some(&current), None, &enable()).is_noop());
    }

    #[test]
    fn mirror_after_follows_the_update_then_the_current_flag() {
        let mut current = Flag::new(name());
        current.mirror = Some(Mirror {
            key: "old".into(),
            invert: false,
        });
        assert_eq!(enable().mirror_after(Some(&current)).unwrap().key, "old");
        let remove = Desired::Present(FlagUpdate {
            mirror: Some(None),
            ..FlagUpdate::default()
        });
        assert!(remove.mirror_after(Some(&current)).is_none());
        assert!(Desired::Absent.mirror_after(Some(&current)).is_none());
    }
}
