//! The `poseidon.deploy.oci_image` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::oci_image::OciImage>()
}
