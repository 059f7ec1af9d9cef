//! Releases of the sample Node.js application (examples/checkbox, copied to a temporary
//! directory first) with the real node and npm: reproducible artifacts, builds refused
//! before any host is touched, artifacts checked before they are unpacked, releases and
//! per-instance pointers on a temporary host root, pruning and rollback.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use poseidon::release::{self, Artifact, Build, Host, Manifest, ReleaseError, node::Runtime};

fn sample_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/checkbox")
}

/// A copy of the sample without what npm installed: builds never write into examples/.
fn copy_sample(into: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for item in fs::read_dir(from).unwrap() {
            let item = item.unwrap();
            if item.file_name() == "node_modules" {
                continue;
            }
            let target = to.join(item.file_name());
            if item.file_type().unwrap().is_dir() {
                copy(&item.path(), &target);
            } else {
                fs::copy(item.path(), &target).unwrap();
            }
        }
    }
    let dir = into.join("checkbox");
    copy(&sample_source(), &dir);
    dir
}

fn build_of(source: &Path, out: &Path) -> Build {
    let mut build = Build::new(source, out);
    build.npm_timeout = Duration::from_secs(300);
    build
}

/// Nothing else takes these hosts' locks: a wait would be a bug.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

fn host_abi() -> String {
    Runtime::of("node").unwrap().abi
}

/// Three releases of the sample (a source file changed between them), built once for
/// every test of this binary: the source at `.0`, artifacts in `.1`.
struct Built {
    _dir: tempfile::TempDir,
    artifacts: Vec<(PathBuf, String, Manifest)>,
}

fn three_releases() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let source = copy_sample(dir.path());
        let out = dir.path().join("artifacts");
        let mut artifacts = Vec::new();
        for n in 0..3 {
            fs::write(source.join("public/release.txt"), format!("release {n}\n")).unwrap();
            let built = release::build(&build_of(&source, &out)).unwrap();
            assert!(built.changed);
            let artifact = built.artifact;
            artifacts.push((
                artifact.path().to_owned(),
                artifact.sha256().to_owned(),
                artifact.manifest().clone(),
            ));
        }
        Built {
            _dir: dir,
            artifacts,
        }
    })
}

fn open(n: usize) -> Artifact {
    let (path, sha256, _) = &three_releases().artifacts[n];
    Artifact::open(path, sha256).unwrap()
}

fn visible_releases(root: &Path) -> Vec<String> {
    let mut names: Vec<_> = match fs::read_dir(root.join("releases")) {
        Ok(listing) => listing
            .map(|i| i.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[test]
fn the_same_source_gives_the_same_artifact_and_is_not_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let first_source = copy_sample(&dir.path().join("a"));
    let second_source = copy_sample(&dir.path().join("b"));

    let first = release::build(&build_of(&first_source, &dir.path().join("out-a"))).unwrap();
    assert!(first.changed);
    // Another copy of the source, another staging directory, another output: same bytes.
    let second = release::build(&build_of(&second_source, &dir.path().join("out-b"))).unwrap();
    assert!(second.changed);
    assert_eq!(second.artifact.sha256(), first.artifact.sha256());
    assert_eq!(second.artifact.manifest(), first.artifact.manifest());

    // Nothing changed: nothing is run, the artifact is left as it was.
    let built_at = fs::metadata(first.artifact.path())
        .unwrap()
        .modified()
        .unwrap();
    let again = release::build(&build_of(&first_source, &dir.path().join("out-a"))).unwrap();
    assert!(!again.changed);
    assert_eq!(again.artifact.sha256(), first.artifact.sha256());
    assert_eq!(
        fs::metadata(again.artifact.path())
            .unwrap()
            .modified()
            .unwrap(),
        built_at
    );

    let manifest = first.artifact.manifest();
    let runtime = Runtime::of("node").unwrap();
    assert_eq!(
        (manifest.node_version.as_str(), manifest.node_abi.as_str()),
        (runtime.version.as_str(), runtime.abi.as_str())
    );
    assert!(
        manifest.id.starts_with("checkbox-0.1.0-"),
        "{}",
        manifest.id
    );
    assert_eq!(
        manifest.lockfile_sha256,
        release::tree::file_sha256(&first_source.join("package-lock.json")).unwrap()
    );
    // The build installed into its staging copy, never into the source.
    assert!(!first_source.join("node_modules").exists());
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("out-a"))
        .unwrap()
        .map(|i| i.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from(format!("{}.tar.gz", manifest.id))]
    );

    // A changed source file is another release.
    fs::write(first_source.join("public/extra.txt"), "more").unwrap();
    let changed = release::build(&build_of(&first_source, &dir.path().join("out-a"))).unwrap();
    assert!(changed.changed);
    assert_ne!(changed.artifact.manifest().id, manifest.id);
}

#[test]
fn a_lockfile_out_of_sync_with_package_json_fails_the_build_with_npms_reason() {
    let dir = tempfile::tempdir().unwrap();
    let source = copy_sample(dir.path());
    let package = fs::read_to_string(source.join("package.json")).unwrap();
    fs::write(
        source.join("package.json"),
        package.replace("\"marked\": \"^18.2.1\"", "\"marked\": \"^17.0.0\""),
    )
    .unwrap();
    let out = dir.path().join("out");
    let err = release::build(&build_of(&source, &out)).unwrap_err();
    assert!(matches!(err, ReleaseError::NpmCi { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("npm ci --omit=dev") && text.contains("in sync") && text.contains("marked"),
        "{text}"
    );
    // No artifact, no staging directory left.
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn an_engines_node_the_target_does_not_satisfy_fails_before_npm_runs() {
    let dir = tempfile::tempdir().unwrap();
    let source = copy_sample(dir.path());
    let package = fs::read_to_string(source.join("package.json")).unwrap();
    fs::write(
        source.join("package.json"),
        package.replace("\">=20\"", "\">=99\""),
    )
    .unwrap();
    let out = dir.path().join("out");
    let err = release::build(&build_of(&source, &out)).unwrap_err();
    let version = Runtime::of("node").unwrap().version;
    match &err {
        ReleaseError::EnginesUnsatisfied {
            required, found, ..
        } => {
            assert_eq!(
                (required.as_str(), found.as_str()),
                (">=99", version.as_str())
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("engines.node"), "{err}");
    assert!(!out.exists());

    // The hosts' Node.js is what counts, when the build is told it.
    fs::write(
        source.join("package.json"),
        package.replace("\">=20\"", "\"20.x || 22.x\""),
    )
    .unwrap();
    let mut build = build_of(&source, &out);
    build.target_node = Some("18.20.0".into());
    let err = release::build(&build).unwrap_err();
    assert!(
        err.to_string().contains("20.x || 22.x") && err.to_string().contains("18.20.0"),
        "{err}"
    );
}

#[test]
fn releases_unpack_once_and_instances_switch_and_prune_spares_what_they_point_to() {
    let root = tempfile::tempdir().unwrap();
    let unlocked = Host::new(root.path());
    let host = unlocked.lock(LOCK_TIMEOUT).unwrap();
    let abi = host_abi();
    let ids: Vec<String> = three_releases()
        .artifacts
        .iter()
        .map(|(_, _, m)| m.id.clone())
        .collect();

    for (n, id) in ids.iter().enumerate() {
        let installed = host.install(&open(n)).unwrap();
        assert!(installed.changed);
        assert_eq!(installed.path, root.path().join("releases").join(id));
    }
    // The same release again: nothing written.
    let before = fs::metadata(
        root.path()
            .join("releases")
            .join(&ids[0])
            .join("package.json"),
    )
    .unwrap()
    .modified()
    .unwrap();
    assert!(!host.install(&open(0)).unwrap().changed);
    assert_eq!(
        fs::metadata(
            root.path()
                .join("releases")
                .join(&ids[0])
                .join("package.json")
        )
        .unwrap()
        .modified()
        .unwrap(),
        before
    );
    let listed: Vec<_> = host
        .releases()
        .unwrap()
        .into_iter()
        .map(|r| r.manifest.id)
        .collect();
    assert_eq!(listed, ids);

    // What npm installed is in the release; the release is the tree its manifest names.
    let release = root.path().join("releases").join(&ids[0]);
    assert!(release.join("node_modules/express/package.json").is_file());
    assert_eq!(
        fs::read_to_string(release.join("public/release.txt")).unwrap(),
        "release 0\n"
    );
    assert_eq!(
        release::tree::hash(&release, &[release::INSTALLED]).unwrap(),
        three_releases().artifacts[0].2.tree_sha256
    );

    // Two instances on different releases, as during a rollout.
    let first = host.point(3001, &ids[0], &abi).unwrap();
    assert!(first.changed && first.from.is_none());
    host.point(3002, &ids[0], &abi).unwrap();
    let switched = host.point(3001, &ids[1], &abi).unwrap();
    assert_eq!(switched.from.as_deref(), Some(ids[0].as_str()));
    assert!(!host.point(3001, &ids[1], &abi).unwrap().changed);
    assert_eq!(
        host.current(3001).unwrap().as_deref(),
        Some(ids[1].as_str())
    );
    assert_eq!(
        host.current(3002).unwrap().as_deref(),
        Some(ids[0].as_str())
    );
    // The pointer leads to the release's files.
    let current = root.path().join("instances/3001/current");
    assert_eq!(
        fs::read_to_string(current.join("public/release.txt")).unwrap(),
        "release 1\n"
    );
    // Switched by rename: no temporary link left beside it.
    let beside: Vec<_> = fs::read_dir(root.path().join("instances/3001"))
        .unwrap()
        .map(|i| i.unwrap().file_name())
        .collect();
    assert_eq!(beside.len(), 2, "{beside:?}");

    // One run at a time changes a host: a second waits, and gives up naming the first.
    let err = Host::new(root.path())
        .lock(Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(err, ReleaseError::Busy { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{err}"
    );

    // What a killed install left is swept by the next prune.
    fs::create_dir_all(
        root.path()
            .join("releases/.unpack-killed-x1y2z3/node_modules"),
    )
    .unwrap();

    // keep_releases 1: the newest stays, and so does every release an instance points to.
    assert_eq!(host.prune(1).unwrap(), Vec::<String>::new());
    assert!(!root.path().join("releases/.unpack-killed-x1y2z3").exists());
    host.point(3002, &ids[2], &abi).unwrap();
    host.point(3002, &ids[1], &abi).unwrap();
    // 3001: current 1, previous 0; 3002: current 1, previous 2. Nothing to remove yet.
    assert!(host.prune(1).unwrap().is_empty());
    host.point(3001, &ids[2], &abi).unwrap();
    // 3001: current 2, previous 1: release 0 is pointed to by no one.
    assert_eq!(host.prune(1).unwrap(), vec![ids[0].clone()]);
    // Listed by name (sorted), which is not the order they were built in.
    let mut kept = vec![ids[1].clone(), ids[2].clone()];
    kept.sort();
    assert_eq!(visible_releases(root.path()), kept);

    // Rollback: back to the previous release, no npm.
    let back = host.rollback(3001, &abi).unwrap();
    assert_eq!(
        (back.from.as_deref(), back.to.as_str()),
        (Some(ids[2].as_str()), ids[1].as_str())
    );
    assert_eq!(
        fs::read_to_string(current.join("public/release.txt")).unwrap(),
        "release 1\n"
    );
    assert!(matches!(
        host.point(3001, "checkbox-9.9.9-000000000000", &abi),
        Err(ReleaseError::UnknownRelease { .. })
    ));
}

/// A copy of artifact `n` with its manifest changed by `edit`, written to `path`.
fn repacked(n: usize, path: &Path, edit: impl Fn(&mut Manifest)) -> String {
    let (original, _, _) = &three_releases().artifacts[n];
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        fs::File::open(original).unwrap(),
    ));
    let out = fs::File::create(path).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        out,
        flate2::Compression::default(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        // The entry's full name and link: a GNU long name is in an entry of its own.
        let name = entry.path().unwrap().into_owned();
        if let Some(target) = entry.link_name().unwrap().map(|t| t.into_owned()) {
            builder.append_link(&mut header, &name, &target).unwrap();
        } else if name == Path::new("manifest.json") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            let mut manifest: Manifest = serde_json::from_slice(&bytes).unwrap();
            edit(&mut manifest);
            let bytes = serde_json::to_vec(&manifest).unwrap();
            header.set_size(bytes.len() as u64);
            builder.append_data(&mut header, &name, &bytes[..]).unwrap();
        } else {
            builder.append_data(&mut header, &name, &mut entry).unwrap();
        }
    }
    builder.into_inner().unwrap().finish().unwrap();
    release::tree::file_sha256(path).unwrap()
}

#[test]
fn a_rollback_to_a_release_built_for_another_abi_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let unlocked = Host::new(&dir.path().join("host"));
    let host = unlocked.lock(LOCK_TIMEOUT).unwrap();
    let abi = host_abi();
    let old_path = dir.path().join("old.tar.gz");
    let old_sha = repacked(0, &old_path, |m| {
        m.node_abi = "93".into();
        m.node_version = "16.20.2".into();
        m.id = "checkbox-0.0.9-oldnode".into();
    });
    let old = host
        .install(&Artifact::open(&old_path, &old_sha).unwrap())
        .unwrap();
    let new = host.install(&open(1)).unwrap();
    // Refused forward too: this host's Node.js cannot load its native modules.
    let err = host.point(3001, &old.id, &abi).unwrap_err();
    assert!(matches!(err, ReleaseError::AbiMismatch { .. }), "{err:?}");
    // The host ran Node.js 16 then; it was upgraded and the new release went live.
    host.point(3001, &old.id, "93").unwrap();
    host.point(3001, &new.id, &abi).unwrap();
    let err = host.rollback(3001, &abi).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ABI 93") && text.contains(&abi) && text.contains("checkbox-0.0.9-oldnode"),
        "{text}"
    );
    assert_eq!(host.current(3001).unwrap(), Some(new.id));
}

#[test]
fn corrupt_truncated_or_unexpected_artifacts_are_refused_with_nothing_unpacked() {
    let dir = tempfile::tempdir().unwrap();
    let (path, sha256, _) = three_releases().artifacts[0].clone();
    let bytes = fs::read(&path).unwrap();

    // The wrong SHA-256.
    let err = Artifact::open(&path, &"0".repeat(64)).unwrap_err();
    assert!(matches!(err, ReleaseError::Checksum { .. }), "{err:?}");

    // Corrupt or cut short, even with the SHA-256 of the bad bytes.
    let corrupt = dir.path().join("corrupt.tar.gz");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    fs::write(&corrupt, &flipped).unwrap();
    let err = Artifact::open(&corrupt, &release::tree::file_sha256(&corrupt).unwrap()).unwrap_err();
    assert!(matches!(err, ReleaseError::BadArtifact { .. }), "{err:?}");
    let truncated = dir.path().join("truncated.tar.gz");
    fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let err =
        Artifact::open(&truncated, &release::tree::file_sha256(&truncated).unwrap()).unwrap_err();
    assert!(matches!(err, ReleaseError::BadArtifact { .. }), "{err:?}");

    // Changed after it was checked: the unpack notices, and no release appears.
    let changing = dir.path().join("changing.tar.gz");
    fs::write(&changing, &bytes).unwrap();
    let artifact = Artifact::open(&changing, &sha256).unwrap();
    fs::write(&changing, &flipped).unwrap();
    let root = dir.path().join("host");
    let err = Host::new(&root)
        .lock(LOCK_TIMEOUT)
        .unwrap()
        .install(&artifact)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ReleaseError::BadArtifact { .. } | ReleaseError::Checksum { .. }
        ),
        "{err:?}"
    );
    assert_eq!(visible_releases(&root), Vec::<String>::new());
}

/// An artifact of `manifest.json`, `app/` and one more entry written by `add`.
fn crafted(
    path: &Path,
    add: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<fs::File>>),
) -> String {
    let manifest = three_releases().artifacts[0].2.to_bytes();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "manifest.json", &manifest[..])
        .unwrap();
    add(&mut builder);
    builder
        .into_inner()
        .unwrap()
        .finish()
        .unwrap()
        .flush()
        .unwrap();
    release::tree::file_sha256(path).unwrap()
}

#[test]
fn entries_that_escape_the_release_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link.tar.gz");
    let sha = crafted(&link, |b| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        b.append_link(&mut header, "app/evil", "../../../etc")
            .unwrap();
    });
    let err = Artifact::open(&link, &sha).unwrap_err();
    assert!(
        err.to_string().contains("app/evil") && err.to_string().contains("outside the release"),
        "{err}"
    );

    let dotdot = dir.path().join("dotdot.tar.gz");
    let sha = crafted(&dotdot, |b| {
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        // tar's own path setters refuse `..`: write the name field raw, as an attacker would.
        let name = b"app/../../escaped";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        b.append(&header, &b"x"[..]).unwrap();
    });
    let err = Artifact::open(&dotdot, &sha).unwrap_err();
    assert!(
        matches!(err, ReleaseError::UnsafeEntry { .. }) && err.to_string().contains(".."),
        "{err}"
    );

    let outside = dir.path().join("outside.tar.gz");
    let sha = crafted(&outside, |b| {
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        b.append_data(&mut header, "elsewhere.txt", &b"x"[..])
            .unwrap();
    });
    assert!(matches!(
        Artifact::open(&outside, &sha),
        Err(ReleaseError::UnsafeEntry { .. })
    ));
}
