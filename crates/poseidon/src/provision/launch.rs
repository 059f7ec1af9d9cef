//! Launching instances, one slot at a time and safe to retry: a lost response never
//! becomes a duplicate instance.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice, InstanceType, ResourceType};
use base64::Engine as _;
use futures_util::{StreamExt, stream};

use super::client::Ec2;
use super::error::{ProvisionError, code_of, is_transient};
use super::observe::{filter, instance_of};
use super::plan::{GroupIds, Launch};
use super::spec::{FleetSpec, InstanceGroup, tags};
use super::tagging::{tag, tag_spec};

/// Launches in flight at once: enough to hide latency, few enough not to be throttled.
const LAUNCH_CONCURRENCY: usize = 8;
/// Attempts per launch when the response is lost or the call is refused transiently.
const LAUNCH_ATTEMPTS: u32 = 8;

pub(super) async fn launch_all(
    ec2: &Ec2,
    spec: &FleetSpec,
    ids: &GroupIds,
    launches: &[Launch],
    done: &mut Vec<String>,
) -> Result<Vec<String>, ProvisionError> {
    if launches.is_empty() {
        return Ok(Vec::new());
    }
    let groups: BTreeMap<&str, &InstanceGroup> = spec
        .instances
        .iter()
        .map(|g| (g.role.as_str(), g))
        .collect();
    let mut root_devices = BTreeMap::new();
    for group in spec.instances.iter().filter(|g| g.volume_size.is_some()) {
        if !root_devices.contains_key(&group.image_id) {
            root_devices.insert(
                group.image_id.clone(),
                root_device(ec2, &group.image_id).await?,
            );
        }
    }
    let results: Vec<(Launch, Result<String, ProvisionError>)> =
        stream::iter(launches.iter().cloned())
            .map(|launch| {
                let group = groups[launch.role.as_str()];
                let root = root_devices.get(&group.image_id).cloned();
                // The fleet's group and the role's (created before any launch).
                let groups: Vec<String> = ids
                    .shared
                    .iter()
                    .chain(ids.roles.get(&group.role))
                    .cloned()
                    .collect();
                async move {
                    let result = launch_one(ec2, spec, group, &groups, &launch, root).await;
                    (launch, result)
                }
            })
            .buffer_unordered(LAUNCH_CONCURRENCY)
            .collect()
            .await;
    let mut launched = Vec::new();
    let mut failure = None;
    for (launch, result) in results {
        match result {
            Ok(id) => {
                done.push(format!(
                    "launched {id} ({} slot {})",
                    launch.role, launch.slot
                ));
                launched.push(id);
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(launched),
    }
}

async fn root_device(ec2: &Ec2, image_id: &str) -> Result<String, ProvisionError> {
    let images = ec2
        .client
        .describe_images()
        .image_ids(image_id)
        .send()
        .await
        .map_err(|e| ProvisionError::api(format!("looking up image {image_id}"), &e))?;
    Ok(images
        .images()
        .first()
        .and_then(|i| i.root_device_name())
        .unwrap_or("/dev/xvda")
        .to_owned())
}

/// Launches one slot, safe to retry: SDK retries are off for RunInstances (moto, for one,
/// ignores client tokens), and after any failure the slot is looked up by its tags
/// before the call is made again, with the same client token.
async fn launch_one(
    ec2: &Ec2,
    spec: &FleetSpec,
    group: &InstanceGroup,
    group_ids: &[String],
    launch: &Launch,
    root_device: Option<String>,
) -> Result<String, ProvisionError> {
    let what = || format!("launching {} slot {}", launch.role, launch.slot);
    let mut token = launch.client_token.clone();
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = run_request(
            ec2,
            spec,
            group,
            group_ids,
            launch,
            &token,
            root_device.as_deref(),
        );
        let error = match request.send().await {
            Ok(output) => {
                let Some(instance) = output.instances().first().map(instance_of) else {
                    return Err(ProvisionError::Config(format!(
                        "{}: RunInstances returned no instance",
                        what()
                    )));
                };
                if instance.state.is_alive() {
                    return Ok(instance.id);
                }
                // A token EC2 still remembers from an instance that is gone: a fresh
                // token for this slot (the slot tag still guards against duplicates).
                token = format!("{}-{attempt}", &launch.client_token[..60]);
                continue;
            }
            Err(e) => e,
        };
        let retryable = is_transient(&error) || code_of(&error) == Some("InvalidGroup.NotFound");
        if !retryable || attempt >= LAUNCH_ATTEMPTS {
            return Err(ProvisionError::api(what(), &error));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
        if let Some(id) = find_slot(ec2, &spec.project, launch).await? {
            tracing::info!(%id, role = %launch.role, slot = launch.slot, "a launch whose response was lost had succeeded");
            return Ok(id);
        }
    }
}

fn run_request(
    ec2: &Ec2,
    spec: &FleetSpec,
    group: &InstanceGroup,
    group_ids: &[String],
    launch: &Launch,
    token: &str,
    root_device: Option<&str>,
) -> aws_sdk_ec2::client::customize::CustomizableOperation<
    aws_sdk_ec2::operation::run_instances::RunInstancesOutput,
    aws_sdk_ec2::operation::run_instances::RunInstancesError,
    aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder,
> {
    let slot = launch.slot.to_string();
    let mut instance_tags = vec![
        tag(
            "Name",
            &format!("{}-{}-{}", spec.project, group.role, launch.slot),
        ),
        tag(tags::PROJECT, &spec.project),
        tag(tags::ROLE, &group.role),
        tag(tags::SLOT, &slot),
    ];
    instance_tags.extend(group.tags.iter().map(|(k, v)| tag(k, v)));
    let volume_tags = [
        tag(tags::PROJECT, &spec.project),
        tag(tags::ROLE, &group.role),
    ];
    let mut request = ec2
        .client
        .run_instances()
        .image_id(&group.image_id)
        .instance_type(InstanceType::from(group.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .key_name(&spec.key_pair.name)
        .set_security_group_ids(Some(group_ids.to_vec()))
        .set_subnet_id(group.subnet_id.clone())
        .client_token(token)
        .tag_specifications(tag_spec(ResourceType::Instance, instance_tags))
        .tag_specifications(tag_spec(ResourceType::Volume, volume_tags));
    if let Some(user_data) = &group.user_data {
        request = request.user_data(base64::engine::general_purpose::STANDARD.encode(user_data));
    }
    if let (Some(size), Some(device)) = (group.volume_size, root_device) {
        request = request.block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(device)
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(size)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        );
    }
    request.customize().config_override(
        aws_sdk_ec2::config::Config::builder()
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled()),
    )
}

/// The live instance holding `launch`'s slot, if a launch already made it.
async fn find_slot(
    ec2: &Ec2,
    project: &str,
    launch: &Launch,
) -> Result<Option<String>, ProvisionError> {
    let found = ec2
        .client
        .describe_instances()
        .filters(filter(&format!("tag:{}", tags::PROJECT), project))
        .filters(filter(&format!("tag:{}", tags::ROLE), &launch.role))
        .filters(filter(
            &format!("tag:{}", tags::SLOT),
            &launch.slot.to_string(),
        ))
        .send()
        .await
        .map_err(|e| {
            ProvisionError::api(
                "looking for an instance launched before a lost response",
                &e,
            )
        })?;
    Ok(found
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(instance_of)
        .find(|i| i.state.is_alive())
        .map(|i| i.id))
}
