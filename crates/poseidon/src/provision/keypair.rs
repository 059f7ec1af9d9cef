//! The project's key pair: imported from a public key the user holds, or created by EC2
//! with its private key written once to a claimed file. Creating is safe to retry: a
//! lost response never leaves a pair whose private key nobody has.

use std::path::Path;
use std::time::Duration;

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{KeyType, ResourceType, TagSpecification};

use super::client::Ec2;
use super::error::{ProvisionError, is_transient};
use super::keyfile::ClaimedKeyFile;
use super::observe::key_pair;
use super::spec::{FleetSpec, tags};
use super::tagging::{tag, tag_spec};

/// Attempts at CreateKeyPair when the response is lost or the call is refused transiently.
const CREATE_ATTEMPTS: u32 = 6;

fn key_tags(spec: &FleetSpec, origin: &str) -> TagSpecification {
    tag_spec(
        ResourceType::KeyPair,
        [
            tag(tags::PROJECT, &spec.project),
            tag(tags::KEY_ORIGIN, origin),
        ],
    )
}

pub(super) async fn import_key(ec2: &Ec2, spec: &FleetSpec) -> Result<(), ProvisionError> {
    let public = spec.key_pair.public_key.as_deref().unwrap_or_default();
    ec2.client
        .import_key_pair()
        .key_name(&spec.key_pair.name)
        .public_key_material(Blob::new(public.trim().as_bytes()))
        .tag_specifications(key_tags(spec, "imported"))
        .send()
        .await
        .map_err(|e| {
            ProvisionError::api(format!("importing key pair '{}'", spec.key_pair.name), &e)
        })?;
    Ok(())
}

/// Claims `path`, has EC2 create the pair, and writes its private key there. A pair whose
/// key could not be written is deleted: it would be useless and block the next run.
pub(super) async fn create_key(
    ec2: &Ec2,
    spec: &FleetSpec,
    path: &Path,
) -> Result<(), ProvisionError> {
    let name = &spec.key_pair.name;
    let claim = ClaimedKeyFile::claim(path).map_err(|source| ProvisionError::Io {
        action: format!("creating the private key file {}", path.display()),
        cause: source,
    })?;
    let material = create_pair(ec2, spec).await?;
    if let Err(source) = claim.fill(&material) {
        let _ = ec2.client.delete_key_pair().key_name(name).send().await;
        return Err(ProvisionError::Io {
            action: format!("writing the private key of '{name}' to {}", path.display()),
            cause: source,
        });
    }
    Ok(())
}

/// CreateKeyPair, returning the private key. SDK retries are off for this call: after a
/// lost response, a plain retry meets the pair the first call made
/// (`InvalidKeyPair.Duplicate`), whose private key existed only in that response. So
/// after a transient failure the pair is looked up first, and one the lost call made
/// (this project's, created by poseidon: we hold the key file's claim, so no other run
/// writing this file made it) is deleted before the pair is created again.
async fn create_pair(ec2: &Ec2, spec: &FleetSpec) -> Result<String, ProvisionError> {
    let name = &spec.key_pair.name;
    let what = || format!("creating key pair '{name}'");
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = ec2
            .client
            .create_key_pair()
            .key_name(name)
            .key_type(KeyType::Ed25519)
            .tag_specifications(key_tags(spec, "created"))
            .customize()
            .config_override(
                aws_sdk_ec2::config::Config::builder()
                    .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled()),
            );
        let error = match request.send().await {
            Ok(created) => return Ok(created.key_material().unwrap_or_default().to_owned()),
            Err(e) => e,
        };
        if !is_transient(&error) || attempt >= CREATE_ATTEMPTS {
            return Err(ProvisionError::api(what(), &error));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
        match key_pair(ec2, &spec.project, name).await? {
            None => {}
            Some(found) if found.owned && found.created => {
                tracing::info!(%name, "deleting the key pair made by a call whose response was lost");
                ec2.client
                    .delete_key_pair()
                    .key_name(name)
                    .send()
                    .await
                    .map_err(|e| {
                        ProvisionError::api(
                            format!(
                                "deleting key pair '{name}', made by a call whose response was lost"
                            ),
                            &e,
                        )
                    })?;
            }
            Some(_) => {
                return Err(ProvisionError::Config(format!(
                    "{}: a key pair '{name}' that is not this project's appeared meanwhile; \
                     choose another key_pair.name",
                    what()
                )));
            }
        }
    }
}
