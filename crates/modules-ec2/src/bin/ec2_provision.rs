//! The `poseidon.deploy.ec2_provision` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_ec2_modules::ec2_provision::Ec2Provision>()
}
