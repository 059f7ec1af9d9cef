//! The `poseidon.deploy.ec2_inventory` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_ec2_modules::ec2_inventory::Ec2Inventory>()
}
