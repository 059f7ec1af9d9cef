//! k8s_rollout against the Kubernetes API stand-in: the first rollout with its smoke test
//! through the service proxy, nothing to do the second time, check mode as a server-side
//! dry run with its diff, a new image; each way a rollout gets stuck failing early,
//! naming the pod and reason, and rolled back; a readiness slower than the progress
//! deadline; a release that serves errors; a first rollout with nothing to roll back to;
//! manifests that fail the checks; an untrusted certificate and an expired token.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use poseidon_testkit::{Ansible, KubeStandIn, Scenario};
use serde_json::{Value, json};

use crate::ansible;
use crate::fixture::{image, manifests, play, render_service, survey_smoke};

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/default/deployments/checkbox-render";

struct Cluster {
    standin: KubeStandIn,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn cluster() -> Cluster {
    let standin = KubeStandIn::start().unwrap();
    standin.route_service("default", "checkbox-render", &render_service());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, standin.kubeconfig()).unwrap();
    Cluster {
        standin,
        _dir: dir,
        kubeconfig,
    }
}

fn args(kubeconfig: &Path, image: &str, deadline: u32) -> Value {
    json!({
        "definition": manifests(image, deadline),
        "kubeconfig": kubeconfig,
        "timeout": 120,
        "smoke": survey_smoke(),
    })
}

fn run(ansible: &Ansible, args: &Value, extra: &[&str]) -> Value {
    ansible
        .playbook(&play(args), extra)
        .unwrap()
        .task("rollout")
        .unwrap()
}

fn live_image(cluster: &Cluster) -> Value {
    cluster.standin.get(DEPLOYMENT).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
        .clone()
}

fn ready_pods(cluster: &Cluster) -> usize {
    cluster
        .standin
        .list("/api/v1/namespaces/default/pods")
        .iter()
        .filter(|pod| {
            pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count()
}

#[test]
fn a_rollout_then_nothing_then_a_dry_run_then_a_new_image() {
    let cluster = cluster();
    let (_collection, ansible) = ansible();

    let markers = tempfile::tempdir().unwrap();
    let mut with_marker = args(&cluster.kubeconfig, &image(1), 600);
    with_marker["marker_dir"] = json!(markers.path());
    let first = run(&ansible, &with_marker, &[]);
    assert_eq!(first["changed"], true, "{first}");
    assert_eq!(first["revision"], 1);
    let marker = std::fs::read_to_string(
        markers
            .path()
            .join("poseidon_deploy_checkbox_render_k8s_rollout.prom"),
    )
    .unwrap();
    assert!(
        marker.contains(r#"release="010101010101""#) && marker.contains(r#"module="k8s_rollout""#),
        "{marker}"
    );
    assert_eq!(first["previous_revision"], Value::Null);
    assert_eq!(
        first["changed_objects"],
        json!([
            "Deployment/checkbox-render",
            "Service/checkbox-render",
            "PodDisruptionBudget/checkbox-render"
        ])
    );
    assert_eq!(ready_pods(&cluster), 3);

    let again = run(&ansible, &args(&cluster.kubeconfig, &image(1), 600), &[]);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["revision"], 1);

    // Check mode: a server-side dry run, its diff; nothing stored.
    let patches_before = cluster.standin.requests().len();
    let checked = run(
        &ansible,
        &args(&cluster.kubeconfig, &image(2), 600),
        &["--check", "--diff"],
    );
    assert_eq!(checked["changed"], true, "{checked}");
    assert_eq!(
        checked["changed_objects"],
        json!(["Deployment/checkbox-render"])
    );
    let diff = checked["diff"].to_string();
    assert!(
        diff.contains(&image(1)) && diff.contains(&image(2)),
        "{diff}"
    );
    assert_eq!(live_image(&cluster), image(1));
    let patches: Vec<_> = cluster.standin.requests()[patches_before..]
        .iter()
        .filter(|(method, _)| method == "PATCH")
        .cloned()
        .collect();
    assert!(!patches.is_empty());
    assert!(
        patches.iter().all(|(_, path)| path.contains("dryRun=All")),
        "{patches:?}"
    );

    let second = run(&ansible, &args(&cluster.kubeconfig, &image(2), 600), &[]);
    assert_eq!(second["changed"], true, "{second}");
    assert_eq!(
        (
            second["revision"].clone(),
            second["previous_revision"].clone()
        ),
        (json!(2), json!(1))
    );
    assert_eq!(live_image(&cluster), image(2));
}

#[test]
fn each_stuck_pod_fails_early_by_name_and_is_rolled_back() {
    let cluster = cluster();
    let (_collection, ansible) = ansible();
    let first = run(&ansible, &args(&cluster.kubeconfig, &image(1), 600), &[]);
    assert_eq!(first["revision"], 1, "{first}");

    let stuck = [
        (Scenario::NeverPulls, ["ImagePullBackOff", "ErrImagePull"]),
        (
            Scenario::CrashLoop,
            ["CrashLoopBackOff", "CrashLoopBackOff"],
        ),
        (
            Scenario::ConfigError,
            ["CreateContainerConfigError", "CreateContainerConfigError"],
        ),
    ];
    for (index, (scenario, reasons)) in stuck.into_iter().enumerate() {
        let bad = image(10 + index as u8);
        cluster.standin.scenario(&bad, scenario);
        let started = Instant::now();
        // A progress deadline of 600 s (60 s here): the failure comes long before it.
        let failed = run(&ansible, &args(&cluster.kubeconfig, &bad, 600), &[]);
        let took = started.elapsed();
        assert_eq!(failed["failed"], true, "{failed}");
        let msg = failed["msg"].as_str().unwrap();
        assert!(
            reasons.iter().any(|r| msg.contains(r)),
            "{reasons:?}: {msg}"
        );
        assert!(
            msg.contains("pod checkbox-render-") && msg.contains("container render"),
            "{msg}"
        );
        // Each rollback makes the first template the newest revision again: 1, 3, 5.
        let back_to = format!("rolled back to revision {}'s template", 1 + 2 * index);
        assert!(msg.contains(&back_to), "{back_to}: {msg}");
        assert!(took < Duration::from_secs(40), "{reasons:?} took {took:?}");
        assert_eq!(live_image(&cluster), image(1), "{reasons:?}");
        assert_eq!(ready_pods(&cluster), 3, "{reasons:?}");
    }
}

/// Rolls image 1 out, then image `bad` whose pods follow `scenario`: the failure's message.
fn rolled_back_from(bad: u8, scenario: Scenario, deadline: u32) -> String {
    let cluster = cluster();
    let (_collection, ansible) = ansible();
    run(
        &ansible,
        &args(&cluster.kubeconfig, &image(1), deadline),
        &[],
    );
    cluster.standin.scenario(&image(bad), scenario);
    let failed = run(
        &ansible,
        &args(&cluster.kubeconfig, &image(bad), deadline),
        &[],
    );
    assert_eq!(live_image(&cluster), image(1), "{failed}");
    failed["msg"].as_str().unwrap().to_owned()
}

#[test]
fn readiness_slower_than_the_progress_deadline_fails_with_it_and_is_rolled_back() {
    // A deadline of 20 manifest seconds: 2 s of the stand-in's time.
    let slow = Scenario::Ready {
        ready_after: Duration::from_secs(60),
    };
    let msg = rolled_back_from(3, slow, 20);
    assert!(
        msg.contains("(ProgressDeadlineExceeded)") && msg.contains("timed out progressing"),
        "{msg}"
    );
    assert!(
        msg.contains("to revision 2 failed")
            && msg.contains("rolled back to revision 1's template (now revision 3)"),
        "{msg}"
    );
}

#[test]
fn a_release_that_serves_errors_fails_its_smoke_test_and_is_rolled_back() {
    let erring = Scenario::ServesErrors {
        ready_after: Duration::from_millis(200),
    };
    let msg = rolled_back_from(4, erring, 600);
    assert!(
        msg.contains("(SmokeTestFailed)") && msg.contains("answered 500"),
        "{msg}"
    );
    assert!(
        msg.contains("rolled back to revision 1's template"),
        "{msg}"
    );
}

#[test]
fn a_failing_first_rollout_has_nothing_to_roll_back_to() {
    let cluster = cluster();
    let (_collection, ansible) = ansible();
    cluster.standin.scenario(&image(5), Scenario::NeverPulls);
    let markers = tempfile::tempdir().unwrap();
    let mut with_marker = args(&cluster.kubeconfig, &image(5), 600);
    with_marker["marker_dir"] = json!(markers.path());
    let failed = run(&ansible, &with_marker, &[]);
    let msg = failed["msg"].as_str().unwrap();
    assert!(msg.contains("no earlier revision to roll back to"), "{msg}");
    let marker = std::fs::read_to_string(
        markers
            .path()
            .join("poseidon_deploy_checkbox_render_k8s_rollout.prom"),
    )
    .unwrap();
    assert!(
        marker.contains(r#"poseidon_deploy_failed{app="checkbox-render",release="050505050505""#),
        "{marker}"
    );
}

#[test]
fn manifests_that_fail_the_checks_never_reach_the_cluster() {
    let cluster = cluster();
    let (_collection, ansible) = ansible();
    let mut unpinned = args(
        &cluster.kubeconfig,
        "registry.example.test/checkbox/render:latest",
        600,
    );
    let failed = run(&ansible, &unpinned, &[]);
    let msg = failed["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("definition: the manifests fail Poseidon's checks"),
        "{msg}"
    );
    assert!(msg.contains("is not pinned by digest"), "{msg}");
    assert!(
        cluster.standin.requests().is_empty(),
        "{:?}",
        cluster.standin.requests()
    );
    // Skipped on request, the same manifests go through (the stand-in pulls any image).
    unpinned["check_manifests"] = json!(false);
    assert_eq!(run(&ansible, &unpinned, &[])["changed"], true);
}

#[test]
fn an_untrusted_certificate_and_an_expired_token_are_named_and_no_token_shown() {
    let cluster = cluster();
    let (_collection, ansible) = ansible();
    let dir = tempfile::tempdir().unwrap();
    let wrong_ca = dir.path().join("wrong-ca");
    std::fs::write(&wrong_ca, cluster.standin.kubeconfig_with_wrong_ca()).unwrap();
    let expired = dir.path().join("expired");
    std::fs::write(&expired, cluster.standin.kubeconfig_with_expired_token()).unwrap();

    let run_text = |kubeconfig: &Path| {
        let run = ansible
            .playbook(&play(&args(kubeconfig, &image(1), 600)), &["-vvv"])
            .unwrap();
        let result = run.task("rollout").unwrap();
        (result, format!("{}{}", run.stdout, run.stderr))
    };
    let (result, _) = run_text(&wrong_ca);
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains(
            "presented a certificate that the kubeconfig's certificate authority does not trust"
        ),
        "{msg}"
    );
    assert!(msg.contains("https://127.0.0.1:"), "{msg}");

    let (result, output) = run_text(&expired);
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("refused the kubeconfig's credentials (401 Unauthorized)"),
        "{msg}"
    );
    assert!(
        !output.contains(cluster.standin.expired_token()),
        "the token was printed"
    );
    assert_eq!(cluster.standin.get(DEPLOYMENT), None, "nothing applied");
}
