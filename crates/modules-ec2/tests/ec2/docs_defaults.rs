//! The EC2 modules' sidecar docs against the options they accept and their defaults
//! (`poseidon_testkit::option_drift`, as for the target-side modules).

use poseidon::provision::DEFAULT_MAX_ATTEMPTS;
use poseidon_ec2_modules::{ec2_inventory::Ec2Inventory, ec2_provision::Ec2Provision};
use poseidon_testkit::option_drift;
use serde_json::json;

#[test]
fn every_default_is_the_documented_one() {
    // Left out, the SDK's attempts are the library's default (applied after serde, so
    // that "not given" stays distinguishable).
    let aws = [("aws_max_attempts", json!(DEFAULT_MAX_ATTEMPTS))];
    let problems = [
        option_drift::<Ec2Provision>("ec2_provision", &[], &aws),
        option_drift::<Ec2Inventory>("ec2_inventory", &[], &aws),
    ]
    .concat();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
