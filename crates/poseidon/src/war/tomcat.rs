//! The two ways onto Tomcat: its Manager's text API, or the `webapps` directory watched
//! by its auto-deployer. Both speak parallel deployment (`<context>##<version>`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

use super::{WarError, archive, version};

/// A version of the context that Tomcat has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub version: String,
    pub running: bool,
}

/// Tomcat Manager credentials and address.
#[derive(Clone)]
pub struct Manager {
    /// e.g. `http://127.0.0.1:8080/manager`.
    pub url: String,
    pub user: String,
    pub password: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Manager {{ url: {}, user: {} }}", self.url, self.user)
    }
}

#[derive(Debug, Clone)]
pub enum Target {
    Manager(Manager),
    Webapps(PathBuf),
}

impl Target {
    /// The versions of `/context` Tomcat knows (manager), or whose WAR is in place (webapps).
    pub fn list(&self, context: &str) -> Result<Vec<Deployed>, WarError> {
        match self {
            Target::Manager(manager) => {
                let text = manager.call("list", &[])?;
                Ok(parse_list(&text, context))
            }
            Target::Webapps(dir) => {
                let prefix = format!("{}##", version::stem(context));
                let mut found = Vec::new();
                for entry in std::fs::read_dir(dir)
                    .map_err(|e| WarError::io(dir, e))?
                    .flatten()
                {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some(version) = name
                        .strip_prefix(prefix.as_str())
                        .and_then(|v| v.strip_suffix(".war"))
                    {
                        found.push(Deployed {
                            version: version.to_owned(),
                            running: true,
                        });
                    }
                }
                found.sort_by(|a, b| a.version.cmp(&b.version));
                Ok(found)
            }
        }
    }

    /// Puts `war` live as `/<context>` version `version` (`""`: no version, as for a
    /// candidate). Tomcat only ever gets bytes whose SHA-256 is `sha256`: webapps
    /// delivery hashes while it writes the hidden copy, before the rename; the manager is
    /// sent a private copy made (and hashed) in `scratch` first.
    pub fn deploy(
        &self,
        context: &str,
        version: &str,
        war: &Path,
        sha256: &str,
        scratch: &Path,
    ) -> Result<(), WarError> {
        match self {
            Target::Manager(manager) => {
                let sealed = seal(war, sha256, scratch)?;
                let mut file = File::open(&sealed).map_err(|e| WarError::io(&sealed, e))?;
                let path = format!("/{context}");
                let mut query = vec![("path", path.as_str())];
                if version.is_empty() {
                    // A candidate left by a killed run is replaced, not refused.
                    query.push(("update", "true"));
                } else {
                    query.push(("version", version));
                }
                manager.put_war(&query, &mut file)?;
                Ok(())
            }
            Target::Webapps(dir) => deliver(war, sha256, dir, &version::war_name(context, version)),
        }
    }

    pub fn undeploy(&self, context: &str, version: &str) -> Result<(), WarError> {
        match self {
            Target::Manager(manager) => {
                let path = format!("/{context}");
                let mut query = vec![("path", path.as_str())];
                if !version.is_empty() {
                    query.push(("version", version));
                }
                manager.call("undeploy", &query)?;
                Ok(())
            }
            Target::Webapps(dir) => {
                let file = dir.join(version::war_name(context, version));
                match std::fs::remove_file(&file) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(WarError::io(&file, e)),
                }
            }
        }
    }

    /// Undeploys a release that must stop serving now (a failed health gate, an earlier
    /// candidate): in webapps mode, also waits (bounded) until the auto-deployer has taken
    /// it down. `Ok(false)`: it still answers when the wait is over.
    pub fn withdraw(&self, context: &str, version: &str) -> Result<bool, WarError> {
        self.undeploy(context, version)?;
        Ok(match self {
            Target::Webapps(dir) => wait_undeployed(&dir.join(version::war_name(context, version))),
            Target::Manager(_) => true,
        })
    }
}

/// How long Tomcat's auto-deployer may take to notice a removed WAR (its background
/// cycle, 10 s by default) and remove the exploded directory.
pub const UNDEPLOY_WAIT: Duration = Duration::from_secs(30);

/// The auto-deployer undeploys a removed WAR on its next cycle, and removes the exploded
/// directory when it has: until then that version still answers new sessions. Waiting
/// for it (bounded) means that when a failed release is reported, the previous one is
/// the one serving. Without unpacking there is no directory, and nothing to wait for.
fn wait_undeployed(war: &Path) -> bool {
    let exploded = war.with_extension("");
    let deadline = std::time::Instant::now() + UNDEPLOY_WAIT;
    while exploded.exists() {
        if std::time::Instant::now() >= deadline {
            tracing::warn!(dir = %exploded.display(), "Tomcat has not undeployed the version yet");
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Copies `war` to `to` while hashing it, fsyncs the copy, and fails (removing it) when
/// the bytes written are not the ones checked: the file changed after it was hashed.
fn copy_verified(war: &Path, sha256: &str, to: &Path) -> Result<(), WarError> {
    let written = File::open(war)
        .map_err(|e| WarError::io(war, e))
        .and_then(|mut from| {
            let mut copy = File::create(to).map_err(|e| WarError::io(to, e))?;
            let sum =
                archive::copy_hashing(&mut from, &mut copy).map_err(|e| WarError::io(to, e))?;
            copy.sync_all().map_err(|e| WarError::io(to, e))?;
            if sum.eq_ignore_ascii_case(sha256) {
                Ok(())
            } else {
                Err(WarError::Changed {
                    path: war.to_owned(),
                })
            }
        });
    if written.is_err() {
        let _ = std::fs::remove_file(to);
    }
    written
}

/// Writes `war` to a hidden temporary file in `dir` (same file system, a name the
/// auto-deployer ignores), checking its SHA-256 on the way, fsyncs it, renames it to
/// `name` and fsyncs the directory: Tomcat never sees a half-written or an unchecked
/// WAR (Bugzilla 57765), and a kill leaves at most the hidden file, removed by the next
/// delivery.
pub fn deliver(war: &Path, sha256: &str, dir: &Path, name: &str) -> Result<(), WarError> {
    let temporary = dir.join(format!(".{name}.poseidon-tmp"));
    let final_path = dir.join(name);
    copy_verified(war, sha256, &temporary)?;
    crate::pause::point("war.before-rename");
    std::fs::rename(&temporary, &final_path).map_err(|e| WarError::io(&final_path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WarError::io(dir, e))
}

/// A private copy of `war` in `scratch` (mode 0600, removed when dropped), checked
/// against `sha256`: what is uploaded cannot change under the upload.
fn seal(war: &Path, sha256: &str, scratch: &Path) -> Result<tempfile::TempPath, WarError> {
    std::fs::create_dir_all(scratch).map_err(|e| WarError::io(scratch, e))?;
    let sealed = tempfile::Builder::new()
        .suffix(".war")
        .tempfile_in(scratch)
        .map_err(|e| WarError::io(scratch, e))?
        .into_temp_path();
    copy_verified(war, sha256, &sealed)?;
    Ok(sealed)
}

/// Removes hidden temporary files a killed delivery left in `dir`.
pub fn clean_leftovers(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".poseidon-tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Parses `/manager/text/list`. Lines are `path:state:sessions:docbase` (Tomcat 7 and
/// later) or `path:state:sessions` (older); the version is the docbase's `##` suffix.
pub fn parse_list(text: &str, context: &str) -> Vec<Deployed> {
    let wanted = format!("/{context}");
    let mut found = Vec::new();
    for line in text.lines().skip(1) {
        let parts: Vec<&str> = line.trim().split(':').collect();
        if parts.len() < 3 || parts[0] != wanted {
            continue;
        }
        let version = parts
            .get(3)
            .and_then(|docbase| docbase.split_once("##"))
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        found.push(Deployed {
            version,
            running: parts[1] == "running",
        });
    }
    found.sort_by(|a, b| a.version.cmp(&b.version));
    found
}

/// The first line of a Manager answer decides: `OK - ...` or `FAIL - ...`.
fn verdict(command: &str, text: &str) -> Result<(), WarError> {
    let first = text.lines().next().unwrap_or("").trim();
    if first.starts_with("OK") {
        Ok(())
    } else {
        Err(WarError::Manager {
            command: command.to_owned(),
            answer: first.to_owned(),
        })
    }
}

impl Manager {
    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn authorization(&self) -> String {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.password));
        format!("Basic {token}")
    }

    fn url(&self, command: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}/text/{command}", self.url.trim_end_matches('/'));
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        url
    }

    fn read(
        &self,
        command: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, WarError> {
        let mut response = response.map_err(|e| WarError::Http {
            url: self.url(command, &[]),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if status == 401 || status == 403 {
            return Err(WarError::Manager {
                command: command.into(),
                answer: format!(
                    "HTTP {status}: the manager refused user {:?} (needs the manager-script role)",
                    self.user
                ),
            });
        }
        verdict(command, &text)?;
        Ok(text)
    }

    pub fn call(&self, command: &str, query: &[(&str, &str)]) -> Result<String, WarError> {
        let response = self
            .agent()
            .get(&self.url(command, query))
            .header("Authorization", &self.authorization())
            .call();
        self.read(command, response)
    }

    fn put_war(&self, query: &[(&str, &str)], war: &mut File) -> Result<String, WarError> {
        let response = self
            .agent()
            .put(&self.url("deploy", query))
            .header("Authorization", &self.authorization())
            .header("Content-Type", "application/octet-stream")
            .send(ureq::SendBody::from_reader(war));
        self.read("deploy", response)
    }
}

fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_list_formats() {
        let text = "OK - Listed applications for virtual host [localhost]\n/manager:running:0:/usr/share/tomcat10-admin/manager\n/itrust:running:2:itrust##000002\n/itrust:running:0:itrust##000003\n/other:stopped:0:other\n";
        let found = parse_list(text, "itrust");
        assert_eq!(
            found.iter().map(|d| d.version.as_str()).collect::<Vec<_>>(),
            ["000002", "000003"]
        );
        let old = "OK - Listed applications\n/itrust:running:0\n";
        assert_eq!(parse_list(old, "itrust")[0].version, "");
    }

    #[test]
    fn only_the_first_line_decides() {
        assert!(
            verdict(
                "deploy",
                "OK - Deployed application at context path [/x]\nFAIL is in the body"
            )
            .is_ok()
        );
        let err = verdict(
            "deploy",
            "FAIL - Application already exists at path [/x]\nOK",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("FAIL - Application already exists")
        );
    }
}
