//! The `poseidon.deploy.mysql_migrate` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::mysql_migrate::MysqlMigrate>()
}
