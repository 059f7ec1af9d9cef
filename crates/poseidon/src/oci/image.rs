//! An image of one static executable: [`ImageSpec`] says what it runs and as whom,
//! [`Image::build`] makes its three blobs (layer, configuration, manifest) in memory.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use flate2::Compression;

use super::elf::{self, Arch};
use super::schema::{self, Descriptor};
use super::{OciError, digest_of};
use crate::release::artifact::header;

/// Every date in the image: a fixed one, so that the digest depends on content only.
const EPOCH: &str = "1970-01-01T00:00:00Z";

/// What the image runs and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The static executable put into the image.
    pub binary: PathBuf,
    /// Where it goes inside the image (absolute), e.g. `/usr/local/bin/checkbox-render`.
    pub entrypoint: String,
    /// Arguments after the entrypoint.
    pub args: Vec<String>,
    /// The user and group id it runs as; never 0.
    pub user: u32,
    /// The TCP ports it listens on (the configuration's `ExposedPorts`).
    pub ports: Vec<u16>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// The non-root user of images that name none: distroless's `nonroot`.
pub const DEFAULT_USER: u32 = 65532;

/// Paths the image itself holds, which the executable may not replace.
const RESERVED: [&str; 4] = ["/etc", "/etc/passwd", "/etc/group", "/tmp"];

impl ImageSpec {
    /// Refuses what cannot make a sound image, naming the field (`what`) as its user
    /// knows it.
    pub fn validate(&self) -> Result<(), OciError> {
        let path = &self.entrypoint;
        let clean = path.starts_with('/')
            && path.len() > 1
            && !path.ends_with('/')
            && path[1..]
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !clean || path.contains('\0') {
            return Err(OciError::bad(
                "entrypoint",
                format!(
                    "{path:?} must be an absolute path inside the image, without . or .. or //"
                ),
            ));
        }
        if RESERVED
            .iter()
            .any(|r| path == r || path.starts_with(&format!("{r}/")))
        {
            return Err(OciError::bad(
                "entrypoint",
                format!("{path:?} is under /etc or /tmp, which the image keeps for itself"),
            ));
        }
        if self.user == 0 {
            return Err(OciError::bad(
                "user",
                "must not be 0: the image runs as a non-root user (Kubernetes' runAsNonRoot)",
            ));
        }
        if self.ports.contains(&0) {
            return Err(OciError::bad("ports", "a port is 1 to 65535"));
        }
        for (key, value) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
                return Err(OciError::bad(
                    "env",
                    format!("{key:?} is not a variable name (non-empty, no '=' or NUL)"),
                ));
            }
        }
        if self.labels.keys().any(|k| k.is_empty()) {
            return Err(OciError::bad("labels", "a label's name is not empty"));
        }
        Ok(())
    }
}

/// The blobs of an image, with their digests: the same spec and binary give the same.
#[derive(Debug, Clone)]
pub struct Image {
    pub arch: Arch,
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    /// `sha256:` of the manifest: the image's digest, what a Deployment pins.
    pub digest: String,
}

impl Image {
    /// Builds the image of `spec` (validated first) from the executable it names.
    pub fn build(spec: &ImageSpec) -> Result<Image, OciError> {
        spec.validate()?;
        let binary = std::fs::read(&spec.binary)
            .map_err(OciError::io("reading the executable", &spec.binary))?;
        let arch = elf::static_executable(&binary)
            .map_err(|why| OciError::bad("binary", format!("{} {why}", spec.binary.display())))?;
        let tar =
            layer_tar(spec, &binary).map_err(OciError::io("packing the layer of", &spec.binary))?;
        let diff_id = digest_of(&tar);
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), Compression::new(6));
        let layer = gz
            .write_all(&tar)
            .and_then(|()| gz.finish())
            .map_err(OciError::io("compressing the layer of", &spec.binary))?;
        let config = serde_json::to_vec(&configuration(spec, arch, diff_id))
            .expect("the configuration serializes");
        let manifest = serde_json::to_vec(&schema::Manifest {
            schema_version: 2,
            media_type: schema::MANIFEST,
            config: descriptor(schema::CONFIG, &config),
            layers: vec![descriptor(schema::LAYER_GZIP, &layer)],
        })
        .expect("the manifest serializes");
        let digest = digest_of(&manifest);
        Ok(Image {
            arch,
            layer,
            config,
            manifest,
            digest,
        })
    }

    /// The blobs by digest: layer, configuration, manifest (the order they are written
    /// in, so that a manifest never names a missing blob).
    pub fn blobs(&self) -> [(String, &[u8]); 3] {
        [
            (digest_of(&self.layer), &self.layer),
            (digest_of(&self.config), &self.config),
            (self.digest.clone(), &self.manifest),
        ]
    }

    /// The manifest's descriptor, for `index.json`.
    pub(crate) fn descriptor(&self) -> Descriptor {
        descriptor(schema::MANIFEST, &self.manifest)
    }
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: digest_of(bytes),
        size: bytes.len() as u64,
        annotations: BTreeMap::new(),
    }
}

fn configuration(spec: &ImageSpec, arch: Arch, diff_id: String) -> schema::Config {
    let mut entrypoint = vec![spec.entrypoint.clone()];
    entrypoint.extend(spec.args.iter().cloned());
    schema::Config {
        created: EPOCH,
        architecture: arch.as_str(),
        os: "linux",
        config: schema::RunConfig {
            user: format!("{0}:{0}", spec.user),
            exposed_ports: spec
                .ports
                .iter()
                .map(|port| (format!("{port}/tcp"), schema::Empty {}))
                .collect(),
            env: spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            entrypoint,
            working_dir: "/",
            labels: spec.labels.clone(),
        },
        rootfs: schema::RootFs {
            kind: "layers",
            diff_ids: vec![diff_id],
        },
        history: vec![schema::History {
            created: EPOCH,
            created_by: format!("poseidon: {} as {}", spec.entrypoint, spec.user),
        }],
    }
}

/// What the layer holds, in path order (a directory before what it contains).
enum Entry<'a> {
    Dir(u32),
    File(u32, &'a [u8]),
}

fn layer_tar(spec: &ImageSpec, binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{0}:{0}:nonroot:/:/sbin/nologin\n",
        spec.user
    );
    let group = format!("root:x:0:\nnonroot:x:{}:\n", spec.user);
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    entries.insert("etc".into(), Entry::Dir(0o755));
    entries.insert("etc/passwd".into(), Entry::File(0o644, passwd.as_bytes()));
    entries.insert("etc/group".into(), Entry::File(0o644, group.as_bytes()));
    // Sticky and writable by all, as every /tmp; read-only unless a volume is mounted.
    entries.insert("tmp".into(), Entry::Dir(0o1777));
    let inside = spec.entrypoint.trim_start_matches('/');
    let mut parent = String::new();
    for part in inside.split('/').take(inside.split('/').count() - 1) {
        if !parent.is_empty() {
            parent.push('/');
        }
        parent.push_str(part);
        entries.insert(parent.clone(), Entry::Dir(0o755));
    }
    entries.insert(inside.to_owned(), Entry::File(0o755, binary));
    let mut tar = tar::Builder::new(Vec::new());
    for (path, entry) in &entries {
        match entry {
            Entry::Dir(mode) => tar.append_data(
                &mut header(tar::EntryType::Directory, *mode, 0),
                format!("{path}/"),
                std::io::empty(),
            )?,
            Entry::File(mode, bytes) => tar.append_data(
                &mut header(tar::EntryType::Regular, *mode, bytes.len() as u64),
                path,
                *bytes,
            )?,
        }
    }
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec(binary: PathBuf) -> ImageSpec {
        ImageSpec {
            binary,
            entrypoint: "/usr/local/bin/app".into(),
            args: vec![],
            user: DEFAULT_USER,
            ports: vec![8080],
            env: BTreeMap::from([("RUST_LOG".into(), "info".into())]),
            labels: BTreeMap::from([
                ("org.opencontainers.image.title".into(), "app".into()),
                ("org.opencontainers.image.version".into(), "1".into()),
            ]),
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let base = spec("/bin/true".into());
        let what = |change: fn(&mut ImageSpec)| {
            let mut s = base.clone();
            change(&mut s);
            match s.validate() {
                Err(OciError::Bad { what, .. }) => what,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(what(|s| s.entrypoint = "app".into()), "entrypoint");
        assert_eq!(
            what(|s| s.entrypoint = "/usr/../bin/app".into()),
            "entrypoint"
        );
        assert_eq!(what(|s| s.entrypoint = "/usr//app".into()), "entrypoint");
        assert_eq!(what(|s| s.entrypoint = "/etc/passwd".into()), "entrypoint");
        assert_eq!(what(|s| s.entrypoint = "/tmp/app".into()), "entrypoint");
        assert_eq!(what(|s| s.user = 0), "user");
        assert_eq!(what(|s| s.ports = vec![0]), "ports");
        assert_eq!(
            what(|s| {
                s.env.insert("A=B".into(), "x".into());
            }),
            "env"
        );
        assert_eq!(
            what(|s| {
                s.labels.insert(String::new(), "x".into());
            }),
            "labels"
        );
        assert!(base.validate().is_ok());
    }

    #[test]
    fn the_layer_holds_the_binary_the_users_and_tmp_owned_by_root() {
        let spec = spec("/bin/true".into());
        let tar = layer_tar(&spec, b"\x7fELF...").unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<_> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        let names: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/group",
                "etc/passwd",
                "tmp/",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/app"
            ]
        );
        assert!(entries.iter().all(|e| e.2 == 0 && e.3 == 0));
        assert_eq!(entries[3].1, 0o1777);
        assert_eq!(entries[7].1, 0o755);
    }
}
