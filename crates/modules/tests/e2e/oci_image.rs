//! `poseidon.deploy.oci_image` through ansible-playbook: a static executable (built here
//! with musl-gcc) made an OCI image layout and pushed to a private registry (Debian's
//! docker-registry), the digest read back over the registry API; unchanged the second
//! time and in check mode; the same bytes from another build; a new build beside the old
//! tag; a dynamic executable and a root user refused before anything is written; the
//! layer's executable runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use poseidon_testkit::RegistryServer;
use serde_json::{Value, json};

use crate::{ansible, assert_bad_input_names_option};

/// A static executable printing `message`, built with musl-gcc (scripts/setup.sh
/// installs musl-tools).
fn static_executable(dir: &Path, name: &str, message: &str) -> PathBuf {
    let source = dir.join(format!("{name}.c"));
    std::fs::write(
        &source,
        format!("#include <stdio.h>\nint main(void) {{ puts({message:?}); return 0; }}\n"),
    )
    .unwrap();
    let binary = dir.join(name);
    let built = Command::new("musl-gcc")
        .args(["-static", "-Os", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("musl-gcc (scripts/setup.sh installs musl-tools)");
    assert!(built.success());
    binary
}

fn play(args: &Value) -> String {
    format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: image\n      poseidon.deploy.oci_image: {args}\n"
    )
}

fn skopeo_json(args: &[&str]) -> Value {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_image_is_written_pushed_once_and_the_same_from_the_same_binary() {
    let work = tempfile::tempdir().unwrap();
    let binary = static_executable(work.path(), "hello", "hello from the image");
    let registry = RegistryServer::start().unwrap();
    let layout = work.path().join("layout");
    let args = |binary: &Path, dest: &Path, tag: &str| {
        json!({
            "binary": binary, "dest": dest, "tag": tag, "ports": [8080],
            "labels": {"org.opencontainers.image.title": "hello"},
            "env": {"RUST_LOG": "info"},
            "push": format!("{}/poseidon/hello", registry.address()),
            "registry_tls_verify": false,
        })
    };
    let (_collection, ansible) = ansible();

    // Check mode on nothing: a change, and nothing written anywhere.
    let checked = ansible
        .playbook(&play(&args(&binary, &layout, "b1")), &["--check", "--diff"])
        .unwrap();
    let checked = checked.task("image").unwrap();
    assert_eq!(checked["changed"], true, "{checked}");
    assert_eq!(
        checked["diff"]["before"],
        json!({"layout": null, "registry": null})
    );
    assert!(!layout.exists());
    assert_eq!(
        registry.manifest_digest("poseidon/hello", "b1").unwrap(),
        None
    );

    let first = ansible
        .playbook(&play(&args(&binary, &layout, "b1")), &["--diff"])
        .unwrap();
    let first = first.task("image").unwrap();
    assert_eq!(first["changed"], true, "{first}");
    let digest = first["digest"].as_str().unwrap().to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(first["architecture"], "amd64");
    assert_eq!(
        first["image"],
        format!("{}/poseidon/hello@{digest}", registry.address())
    );
    assert_eq!(
        first["diff"]["after"],
        json!({"layout": digest, "registry": digest})
    );
    assert_eq!(
        registry
            .manifest_digest("poseidon/hello", "b1")
            .unwrap()
            .as_deref(),
        Some(digest.as_str()),
        "the registry serves the layout's manifest, byte for byte"
    );

    // What skopeo reads from the layout: one layer, non-root, the entrypoint, the port.
    let reference = format!("oci:{}:b1", layout.display());
    let config = skopeo_json(&["inspect", "--config", &reference]);
    assert_eq!(config["config"]["User"], "65532:65532", "{config}");
    assert_eq!(
        config["config"]["Entrypoint"],
        json!(["/usr/local/bin/hello"])
    );
    assert_eq!(config["config"]["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    let inspected = skopeo_json(&["inspect", &reference]);
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(inspected["Digest"], digest);

    // Unchanged: again, and in check mode.
    for extra in [&[][..], &["--check"]] {
        let again = ansible
            .playbook(&play(&args(&binary, &layout, "b1")), extra)
            .unwrap();
        let again = again.task("image").unwrap();
        assert_eq!(again["changed"], false, "{extra:?}: {again}");
        assert_eq!(again["digest"], digest);
    }

    // Reproducible: a copy of the binary elsewhere, another layout, the same digest.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("hello");
    std::fs::copy(&binary, &copy).unwrap();
    let mut other = args(&copy, &elsewhere.path().join("layout"), "b1");
    other.as_object_mut().unwrap().remove("push");
    let rebuilt = ansible.playbook(&play(&other), &[]).unwrap();
    let rebuilt = rebuilt.task("image").unwrap();
    assert_eq!(rebuilt["digest"], digest, "{rebuilt}");
    assert_eq!(rebuilt["image"], Value::Null);

    // A new build under a new tag: pushed; the layout keeps both tags and their blobs.
    let binary2 = static_executable(work.path(), "hello2", "hello again");
    let mut second = args(&binary2, &layout, "b2");
    second["entrypoint"] = json!("/usr/local/bin/hello");
    let second = ansible.playbook(&play(&second), &[]).unwrap();
    let second = second.task("image").unwrap();
    assert_eq!(second["changed"], true, "{second}");
    let digest2 = second["digest"].as_str().unwrap();
    assert_ne!(digest2, digest);
    assert_eq!(
        registry
            .manifest_digest("poseidon/hello", "b2")
            .unwrap()
            .as_deref(),
        Some(digest2)
    );
    assert_eq!(
        skopeo_json(&["inspect", &reference])["Digest"],
        digest,
        "b1 kept"
    );

    // The layer's executable runs as it is, unpacked: the image's whole program.
    let layer_digest = inspected["Layers"][0]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let root = work.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    let unpacked = Command::new("tar")
        .arg("-xzf")
        .arg(layout.join("blobs/sha256").join(layer_digest))
        .arg("-C")
        .arg(&root)
        .status()
        .unwrap();
    assert!(unpacked.success());
    let ran = Command::new(root.join("usr/local/bin/hello"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "hello from the image\n"
    );
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    assert!(!root.join("bin/sh").exists(), "no shell in the image");
}

#[test]
fn what_cannot_make_an_image_is_refused_before_anything_is_written() {
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("layout");
    let (_collection, ansible) = ansible();
    // A dynamically linked executable could not start without a libc: refused at once.
    let run = ansible
        .playbook(&play(&json!({"binary": "/bin/true", "dest": dest})), &[])
        .unwrap();
    let result = run.task("image").unwrap();
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("binary") && msg.contains("dynamically linked"),
        "{msg}"
    );
    assert!(!dest.exists());

    // A directory that is not a layout is never written into.
    let binary = static_executable(work.path(), "hello", "hi");
    let not_layout = work.path().join("not-a-layout");
    std::fs::create_dir(&not_layout).unwrap();
    std::fs::write(not_layout.join("notes.txt"), "mine").unwrap();
    let run = ansible
        .playbook(&play(&json!({"binary": binary, "dest": not_layout})), &[])
        .unwrap();
    let result = run.task("image").unwrap();
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("is not an OCI image layout"),
        "{result}"
    );
    assert_eq!(std::fs::read_dir(&not_layout).unwrap().count(), 1);

    let dest = dest.to_str().unwrap();
    assert_bad_input_names_option(
        "oci_image",
        &[
            (
                json!({"binary": "/bin/true", "dest": dest, "user": 0}),
                "user",
            ),
            (json!({"binary": "/bin/true", "dest": "relative"}), "dest"),
            (
                json!({"binary": "/bin/true", "dest": dest, "tag": "a:b"}),
                "tag",
            ),
            (
                json!({"binary": "/bin/true", "dest": dest, "entrypoint": "/etc/passwd"}),
                "entrypoint",
            ),
            (
                json!({"binary": "/bin/true", "dest": dest, "push": "docker://r.example/x"}),
                "push",
            ),
            (
                json!({"binary": "/bin/true", "dest": dest, "timeout": 0}),
                "timeout",
            ),
        ],
    );
}
