//! A registry, reached through skopeo (Debian's `skopeo`): the digest it holds for a
//! reference, and a push from a layout that keeps the layout's digests.
//!
//! Credentials stay in skopeo's authentication file (`auth_file`, or its default places):
//! never on a command line, never in an answer.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::OciError;
use super::layout::{Layout, valid_tag};
use crate::process::{Ran, run_bounded};

/// `host[:port]/path[:tag]` of a registry, without a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// `host[:port]/path`.
    pub repository: String,
    pub tag: String,
}

impl RemoteRef {
    /// Parses `host[:port]/path[:tag]`; a reference without a tag gets `default_tag`.
    /// The message of a refusal says what is expected.
    pub fn parse(text: &str, default_tag: &str) -> Result<RemoteRef, String> {
        let expected =
            "a registry reference host[:port]/repository[:tag] (no transport, no digest)";
        let Some((host, path)) = text.split_once('/') else {
            return Err(format!("{text:?} is not {expected}"));
        };
        let (path, tag) = match path.rsplit_once(':') {
            Some((path, tag)) => (path, tag),
            None => (path, default_tag),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        let path_ok = !path.is_empty()
            && path.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        if !host_ok || !path_ok || text.contains('@') || !valid_tag(tag) {
            return Err(format!("{text:?} is not {expected}"));
        }
        Ok(RemoteRef {
            repository: format!("{host}/{path}"),
            tag: tag.to_owned(),
        })
    }

    /// skopeo's name: `docker://host/path:tag`.
    pub fn transport(&self) -> String {
        format!("docker://{}:{}", self.repository, self.tag)
    }

    /// The image pinned by digest, as a Deployment names it: `host/path@sha256:...`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository)
    }
}

impl std::fmt::Display for RemoteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

/// How skopeo reaches registries.
#[derive(Debug, Clone)]
pub struct Registry {
    pub skopeo: PathBuf,
    /// false: plain HTTP or an unverified certificate (a registry on a private network).
    pub tls_verify: bool,
    /// skopeo's authentication file; `None`: its default places.
    pub auth_file: Option<PathBuf>,
    /// For each skopeo run.
    pub timeout: Duration,
}

impl Registry {
    /// The manifest digest `remote` names in its registry, or `None` when the registry
    /// has no such tag (or repository).
    pub fn digest(&self, remote: &RemoteRef) -> Result<Option<String>, OciError> {
        let mut command = self.command("inspect", "--tls-verify", "--authfile");
        command.args(["--format", "{{.Digest}}", &remote.transport()]);
        let doing = format!("asking {remote} for its digest");
        match self.run(&mut command, &doing)? {
            Ok(output) => output
                .lines()
                .map(str::trim)
                .find(|line| line.starts_with("sha256:"))
                .map(|digest| Some(digest.to_owned()))
                .ok_or_else(|| OciError::Skopeo {
                    doing,
                    message: format!("skopeo answered no digest: {}", output.trim()),
                }),
            // Registry 2.x: MANIFEST_UNKNOWN for a tag, NAME_UNKNOWN for a repository.
            Err(output)
                if output.contains("manifest unknown") || output.contains("name unknown") =>
            {
                Ok(None)
            }
            Err(output) => Err(OciError::Skopeo {
                doing,
                message: output.trim().to_owned(),
            }),
        }
    }

    /// Copies the image `tag` of `layout` to `remote`, byte for byte (the digest stays
    /// the layout's), and returns the digest the registry stored.
    pub fn push(&self, layout: &Layout, tag: &str, remote: &RemoteRef) -> Result<String, OciError> {
        let digest_file = tempfile::NamedTempFile::new().map_err(OciError::io(
            "making a temporary file in",
            &std::env::temp_dir(),
        ))?;
        let mut command = self.command("copy", "--dest-tls-verify", "--dest-authfile");
        command
            .args(["--preserve-digests", "--retry-times", "3", "--digestfile"])
            .arg(digest_file.path())
            .arg(layout.reference(tag))
            .arg(remote.transport());
        let doing = format!("pushing {} to {remote}", layout.reference(tag));
        match self.run(&mut command, &doing)? {
            Ok(_) => {}
            Err(output) => {
                return Err(OciError::Skopeo {
                    doing,
                    message: output.trim().to_owned(),
                });
            }
        }
        let digest = std::fs::read_to_string(digest_file.path()).map_err(OciError::io(
            "reading skopeo's digest file",
            digest_file.path(),
        ))?;
        Ok(digest.trim().to_owned())
    }

    fn command(&self, verb: &str, tls_flag: &str, auth_flag: &str) -> Command {
        let mut command = Command::new(&self.skopeo);
        command
            .arg(verb)
            .arg(format!("{tls_flag}={}", self.tls_verify));
        if let Some(file) = &self.auth_file {
            command.arg(auth_flag).arg(file);
        }
        command
    }

    /// Runs skopeo: `Ok(Ok(output))` when it succeeded, `Ok(Err(output))` when it said
    /// no, `Err` when it could not run or did not finish in time.
    fn run(&self, command: &mut Command, doing: &str) -> Result<Result<String, String>, OciError> {
        let skopeo_failed = |message: String| OciError::Skopeo {
            doing: doing.to_owned(),
            message,
        };
        match run_bounded(command, self.timeout).map_err(|e| skopeo_failed(e.to_string()))? {
            Ran::Finished(done) if done.status.success() => Ok(Ok(done.output)),
            Ran::Finished(done) => Ok(Err(done.output)),
            Ran::TimedOut { .. } => Err(skopeo_failed(format!(
                "skopeo did not finish within {} s",
                self.timeout.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_as_registries_name_them() {
        let r = RemoteRef::parse("127.0.0.1:5000/checkbox/render", "b42").unwrap();
        assert_eq!(r.repository, "127.0.0.1:5000/checkbox/render");
        assert_eq!(r.tag, "b42");
        assert_eq!(r.transport(), "docker://127.0.0.1:5000/checkbox/render:b42");
        assert_eq!(
            r.pinned("sha256:ab"),
            "127.0.0.1:5000/checkbox/render@sha256:ab"
        );
        let tagged = RemoteRef::parse("registry.example/render:v1", "b42").unwrap();
        assert_eq!(
            (tagged.repository.as_str(), tagged.tag.as_str()),
            ("registry.example/render", "v1")
        );
        for bad in [
            "render",
            "docker://registry.example/render",
            "registry.example/Render",
            "registry.example/render@sha256:ab",
            "registry.example//render",
            "registry.example/render:",
            "/render",
        ] {
            assert!(RemoteRef::parse(bad, "x").is_err(), "{bad}");
        }
    }
}
