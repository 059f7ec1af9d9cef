//! Option groups: a set of options written once (one struct) and shared, flat, by several
//! modules. serde's `flatten` cannot be combined with `deny_unknown_fields`, so
//! [`Grouped`] splits the options itself: the group's keys go to the group, the rest to
//! the module's own struct, and a misspelt option is still refused with the full list
//! of valid ones.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};
use serde_json::{Map, Value};

use crate::options::describe_error;

/// A module's own options `A` plus a shared group `G`, both given flat in the task.
/// `A` should use `deny_unknown_fields`; neither may use `flatten`.
#[derive(Debug)]
pub struct Grouped<A, G> {
    pub own: A,
    pub group: G,
}

impl<'de, A: DeserializeOwned, G: DeserializeOwned> Deserialize<'de> for Grouped<A, G> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut options = Map::<String, Value>::deserialize(d)?;
        let group_names = field_names::<G>();
        let group_options: Map<String, Value> = group_names
            .iter()
            .filter_map(|name| options.remove(*name).map(|v| ((*name).to_owned(), v)))
            .collect();
        let group = serde_path_to_error::deserialize(Value::Object(group_options))
            .map_err(|e| de::Error::custom(describe_error(&e, &[])))?;
        let own = serde_path_to_error::deserialize(Value::Object(options))
            .map_err(|e| de::Error::custom(describe_error(&e, group_names)))?;
        Ok(Grouped { own, group })
    }
}

/// Flat again, as the task wrote it: the module's own options and the group's in one map.
impl<A: serde::Serialize, G: serde::Serialize> serde::Serialize for Grouped<A, G> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let as_map = |value: serde_json::Result<Value>| match value {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(S::Error::custom(format!("options are not a map: {other}"))),
            Err(e) => Err(S::Error::custom(e)),
        };
        let mut options = as_map(serde_json::to_value(&self.own))?;
        options.extend(as_map(serde_json::to_value(&self.group))?);
        options.serialize(s)
    }
}

/// The field names of a struct that derives `Deserialize` (without `flatten`).
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names = None;
    let _ = T::deserialize(Probe(&mut names));
    names.unwrap_or(&[])
}

/// A deserializer that only records the field list serde asks for.
struct Probe<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("field names recorded"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Own {
        name: String,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Login {
        login_host: Option<String>,
        #[serde(default, deserialize_with = "crate::de::opt_int")]
        login_port: Option<u16>,
    }

    #[test]
    fn splits_flat_options_between_the_module_and_the_group() {
        assert_eq!(field_names::<Login>(), ["login_host", "login_port"]);
        let g: Grouped<Own, Login> =
            serde_json::from_value(json!({"name": "n", "login_host": "db", "login_port": "3307"}))
                .unwrap();
        assert_eq!(g.own.name, "n");
        assert_eq!(g.group.login_host.as_deref(), Some("db"));
        assert_eq!(g.group.login_port, Some(3307));
    }

    #[test]
    fn unknown_options_list_both_sets_and_errors_name_the_option() {
        let err =
            serde_json::from_value::<Grouped<Own, Login>>(json!({"name": "n", "login_hots": "x"}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("unsupported option 'login_hots'"), "{err}");
        assert!(
            err.contains("valid options are: name, login_host, login_port"),
            "{err}"
        );
        let err =
            serde_json::from_value::<Grouped<Own, Login>>(json!({"name": "n", "login_port": "x"}))
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("option 'login_port'"), "{err}");
    }
}
