//! The `poseidon.deploy.mysql_copy` Ansible module.

// A copy parses millions of rows into small buffers: musl's allocator (one global lock,
// no thread caches) cost a fifth of this module's CPU (bench/copy.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    poseidon_harness::run::<poseidon_modules::mysql_copy::MysqlCopy>()
}
