//! A private OCI registry: Debian's `docker-registry` (the CNCF distribution registry,
//! 2.8) on a free loopback port, plain HTTP, its storage in a temporary directory, gone on
//! drop. What skopeo pushes to in the tests, and read back here over the registry API
//! itself, so that a digest is checked by something other than skopeo.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{free_port, http_get, wait_until};

pub struct RegistryServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl RegistryServer {
    pub fn start() -> Result<RegistryServer> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("registry.log"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry (scripts/setup.sh installs it with apt)")?;
        let mut server = RegistryServer {
            child,
            port,
            _dir: dir,
        };
        let url = server.url("/v2/");
        let ready = wait_until(
            "the registry to answer /v2/",
            Duration::from_secs(30),
            || http_get(&url).0 == 200 || server.child.try_wait().ok().flatten().is_some(),
        );
        if let Some(status) = server.child.try_wait()? {
            bail!("docker-registry exited ({status})");
        }
        ready?;
        Ok(server)
    }

    /// `127.0.0.1:<port>`, the host part of an image reference.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The digest of the manifest `repository:tag` as the registry serves it (the
    /// SHA-256 of the bytes it answers, which the registry also names in
    /// `Docker-Content-Digest`), or `None` when it has no such tag.
    pub fn manifest_digest(&self, repository: &str, tag: &str) -> Result<Option<String>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut answer = agent
            .get(self.url(&format!("/v2/{repository}/manifests/{tag}")))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .call()?;
        if answer.status() == 404 {
            return Ok(None);
        }
        if answer.status() != 200 {
            bail!(
                "the registry answered {} for {repository}:{tag}",
                answer.status()
            );
        }
        let named = answer
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = answer.body_mut().read_to_vec()?;
        let digest = sha256_digest(&body);
        if named.as_deref() != Some(digest.as_str()) {
            bail!("the registry names {named:?} for a manifest whose SHA-256 is {digest}");
        }
        Ok(Some(digest))
    }
}

fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let sum = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        sum.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
