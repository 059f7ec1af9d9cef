//! The `poseidon.deploy.mysql_copy` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::mysql_copy::MysqlCopy>()
}
