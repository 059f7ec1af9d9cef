//! Node.js specifics: the runtime's version and module ABI, `package.json`, and
//! `engines.node` judged with npm's range semantics (`>=20`, `^20.1`, `20.x || 22.x`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ReleaseError;
use super::command;

/// `node --version` answers at once; a minute means a stuck machine.
const NODE_TIMEOUT: Duration = Duration::from_secs(60);

/// A Node.js runtime: what decides whether a release's native modules load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// `node --version` without its `v`: `20.20.2`.
    pub version: String,
    /// `process.versions.modules`: `115`.
    pub abi: String,
}

impl Runtime {
    /// The runtime `node` (a path or a name found on PATH) is.
    pub fn of(node: &str) -> Result<Runtime, ReleaseError> {
        let ask = |args: &[&str]| -> Result<String, ReleaseError> {
            let done = command::run(node, args, Path::new("/"), &[], NODE_TIMEOUT)?;
            if !done.status.success() {
                return Err(ReleaseError::Command {
                    command: format!("{node} {}", args.join(" ")),
                    reason: format!("{}: {}", done.status, done.output),
                });
            }
            Ok(done.output.trim().to_owned())
        };
        let version = ask(&["--version"])?;
        let abi = ask(&["-p", "process.versions.modules"])?;
        Ok(Runtime {
            version: version.trim_start_matches('v').to_owned(),
            abi,
        })
    }
}

/// What a build reads of `package.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// `engines.node`, when the application says.
    pub engines_node: Option<String>,
}

#[derive(Deserialize)]
struct RawPackage {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    engines: Engines,
}

#[derive(Deserialize, Default)]
struct Engines {
    node: Option<String>,
}

impl Package {
    pub fn read(path: &Path) -> Result<Package, ReleaseError> {
        let text = std::fs::read_to_string(path).map_err(ReleaseError::io("reading", path))?;
        Package::parse(&text).map_err(|reason| ReleaseError::BadPackage {
            path: path.to_owned(),
            reason,
        })
    }

    pub fn parse(text: &str) -> Result<Package, String> {
        let raw: RawPackage = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let name = raw.name.ok_or("it has no \"name\"")?;
        // The name goes into file names: npm's own rules keep it to these.
        let plain = name.trim_start_matches('@').replace('/', "-");
        if plain.is_empty()
            || plain.starts_with('.')
            || !plain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return Err(format!("its name {name:?} is not an npm package name"));
        }
        Ok(Package {
            name: plain,
            version: raw.version.unwrap_or_else(|| "0.0.0".into()),
            engines_node: raw.engines.node,
        })
    }
}

/// Whether Node.js `version` satisfies the range `required` as npm reads it.
pub fn satisfies(required: &str, version: &str) -> Result<bool, String> {
    let range = node_semver::Range::parse(required)
        .map_err(|e| format!("engines.node {required:?} is not a version range: {e}"))?;
    let version = node_semver::Version::parse(version.trim_start_matches('v'))
        .map_err(|e| format!("{version:?} is not a Node.js version: {e}"))?;
    Ok(range.satisfies(&version))
}

/// Fails when the package's `engines.node` excludes the target's Node.js `version`.
pub fn check_engines(package: &Package, path: &Path, version: &str) -> Result<(), ReleaseError> {
    let Some(required) = &package.engines_node else {
        return Ok(());
    };
    let bad = |reason| ReleaseError::BadPackage {
        path: path.to_owned(),
        reason,
    };
    if satisfies(required, version).map_err(bad)? {
        Ok(())
    } else {
        Err(ReleaseError::EnginesUnsatisfied {
            path: path.to_owned(),
            required: required.clone(),
            found: version.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_ranges() {
        for (range, version, ok) in [
            (">=20", "20.20.2", true),
            (">=20", "18.19.0", false),
            (">=99", "20.20.2", false),
            ("^20.1", "20.20.2", true),
            ("^20.1", "20.0.5", false),
            ("^20.1", "21.0.0", false),
            ("20.x || 22.x", "22.3.0", true),
            ("20.x || 22.x", "21.7.3", false),
            ("~20.20", "v20.20.2", true),
            ("*", "1.0.0", true),
        ] {
            assert_eq!(satisfies(range, version), Ok(ok), "{range} / {version}");
        }
        assert!(satisfies("not a range!", "20.0.0").is_err());
    }

    #[test]
    fn an_unsatisfied_engine_names_both_sides() {
        let package = Package::parse(r#"{"name":"app","engines":{"node":">=99"}}"#).unwrap();
        let err = check_engines(&package, Path::new("p/package.json"), "20.20.2").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(">=99") && text.contains("20.20.2") && text.contains("engines.node"),
            "{text}"
        );
        let none = Package::parse(r#"{"name":"app"}"#).unwrap();
        check_engines(&none, Path::new("p"), "20.0.0").unwrap();
    }

    #[test]
    fn package_names_become_file_names() {
        let scoped = Package::parse(r#"{"name":"@acme/shop","version":"1.2.3"}"#).unwrap();
        assert_eq!(
            (scoped.name.as_str(), scoped.version.as_str()),
            ("acme-shop", "1.2.3")
        );
        assert!(Package::parse(r#"{"name":"../x"}"#).is_err());
        assert!(Package::parse(r#"{"version":"1.0.0"}"#).is_err());
    }
}
