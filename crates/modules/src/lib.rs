//! The `poseidon.deploy` modules. Each module is a type implementing
//! [`poseidon_harness::Module`] here, and a three-line `main` in `src/bin/`.
//!
//! Option groups shared by several modules are written once, in their own file.

pub mod app_build;
pub mod app_release;
pub mod balancer;
mod command_options;
pub mod config_file;
mod deploy_marker;
pub mod feature_flag;
pub mod feature_flag_info;
pub mod git_push_deploy;
pub mod http_check;
pub mod mysql_copy;
pub mod mysql_migrate;
mod mysql_options;
pub mod netns_hosts;
pub mod oci_image;
pub mod ping;
pub mod prometheus_config;
mod redis_options;
pub mod run_once;
pub mod service;
pub mod war_deploy;
mod who;
