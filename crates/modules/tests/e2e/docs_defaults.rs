//! Each option's default is written once, in the module's code (serde), and the sidecar
//! docs (`plugins/modules/<name>.yml`, what `ansible-doc` shows) must say the same
//! (`poseidon_testkit::option_drift`).

use poseidon::db::{Endpoint, Tls};
use poseidon_modules::{
    app_build::AppBuild, app_release::AppRelease, balancer::Balancer, config_file::ConfigFile,
    feature_flag::FeatureFlag, feature_flag_info::FeatureFlagInfo, git_push_deploy::GitPushDeploy,
    http_check::HttpCheck, mysql_copy::MysqlCopy, mysql_migrate::MysqlMigrate,
    netns_hosts::NetnsHosts, oci_image::OciImage, ping::Ping, prometheus_config::PrometheusConfig,
    run_once::RunOnce, service::Service, war_deploy::WarDeploy,
};
use poseidon_testkit::{SHIPPED_MODULES, documented_modules, option_drift, repo_root};
use serde_json::json;

#[test]
fn every_default_is_the_documented_one() {
    let endpoint = Endpoint::default();
    let mysql_login = [
        ("login_host", json!(endpoint.host)),
        ("login_port", json!(endpoint.port)),
        ("login_user", json!(endpoint.user)),
        ("connect_timeout", json!(endpoint.connect_timeout.as_secs())),
        ("check_hostname", json!(Tls::default().check_hostname)),
    ];
    let database = json!({"database": "stub"});
    let problems: Vec<String> = [
        option_drift::<AppBuild>("app_build", &[], &[]),
        option_drift::<AppRelease>("app_release", &[], &[]),
        option_drift::<Balancer>("balancer", &[], &[]),
        option_drift::<ConfigFile>("config_file", &[], &[]),
        option_drift::<FeatureFlag>("feature_flag", &[], &[]),
        option_drift::<FeatureFlagInfo>("feature_flag_info", &[], &[]),
        option_drift::<GitPushDeploy>("git_push_deploy", &[], &[]),
        option_drift::<HttpCheck>("http_check", &[], &[]),
        option_drift::<MysqlCopy>(
            "mysql_copy",
            &[("source", database.clone()), ("target", database)],
            &[],
        ),
        option_drift::<MysqlMigrate>("mysql_migrate", &[], &mysql_login),
        option_drift::<NetnsHosts>("netns_hosts", &[("hosts_dir", json!("/tmp/hosts"))], &[]),
        option_drift::<OciImage>("oci_image", &[], &[]),
        option_drift::<Ping>("ping", &[], &[]),
        option_drift::<PrometheusConfig>("prometheus_config", &[], &[]),
        option_drift::<RunOnce>("run_once", &[], &[]),
        option_drift::<Service>("service", &[], &[]),
        option_drift::<WarDeploy>("war_deploy", &[], &[]),
    ]
    .concat();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every documented module runs through the collection's one-round-trip action: a module
/// without its one-line action file would fall back to Ansible's five SSH operations.
#[test]
fn every_module_has_its_action_plugin() {
    let actions = repo_root().join(SHIPPED_MODULES).join("../action");
    let missing: Vec<String> = documented_modules()
        .into_iter()
        .filter(|name| {
            std::fs::read_to_string(actions.join(format!("{name}.py"))).map_or(true, |text| {
                !text.contains("binary_module import ActionModule")
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "modules without plugins/action/<name>.py: {missing:?}"
    );
}
