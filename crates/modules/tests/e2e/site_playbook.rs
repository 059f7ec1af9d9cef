//! The README's main job, `ansible-playbook site.yml`, as a user runs it from the root of
//! a clone: first run changes, second run changes nothing, check mode changes nothing.

use poseidon::flags::{FlagName, FlagStore, RedisConfig};
use poseidon_testkit::RedisServer;

use crate::ansible;

const HOST: &str = "itrust-local";

#[test]
fn site_converges_then_is_idempotent_and_check_mode_is_clean() {
    let redis = RedisServer::start().unwrap();
    let (_collection, ansible) = ansible();
    let url = format!("feature_flags_redis_url={}", redis.url());
    let args = ["-e", url.as_str()];

    let first = ansible.repo_playbook("site.yml", &args).unwrap();
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    assert!(first.recap(HOST)["changed"].as_u64().unwrap() >= 1);

    let mut flags = FlagStore::connect(&RedisConfig::new(redis.url())).unwrap();
    let search = flags
        .get(&FlagName::new("patientSearch").unwrap())
        .unwrap()
        .expect("site.yml created patientSearch");
    assert_eq!(search.flag.state.as_str(), "enabled");
    let mirror: Option<String> = redis::Client::open(redis.url())
        .and_then(|c| c.get_connection())
        .and_then(|mut c| {
            redis::cmd("GET")
                .arg("featureOffPatientSearch")
                .query(&mut c)
        })
        .unwrap();
    assert_eq!(mirror.as_deref(), Some("false"));

    let second = ansible.repo_playbook("site.yml", &args).unwrap();
    assert!(second.success, "{}", second.stderr);
    assert_eq!(second.recap(HOST)["changed"], 0, "{}", second.stdout);

    let check = ansible
        .repo_playbook("site.yml", &["-e", url.as_str(), "--check", "--diff"])
        .unwrap();
    assert!(check.success, "{}", check.stderr);
    assert_eq!(check.recap(HOST)["changed"], 0);
    assert_eq!(check.recap(HOST)["failures"], 0);
}
