//! Applying a [`FleetPlan`]: exactly the planned changes, in dependency order (group and
//! rules, key pair, terminations, starts, launches), then the optional waits.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, InstanceType, IpPermission, IpRange, Ipv6Range, KeyType,
    ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use base64::Engine as _;
use futures_util::{StreamExt, stream};
use serde::Serialize;

use super::client::Ec2;
use super::error::{ProvisionError, code_of, is_transient};
use super::keyfile::ClaimedKeyFile;
use super::observe::{filter, instance_of, project_instances};
use super::plan::{FleetPlan, Instance, InstanceState, KeyAction, Launch, Observed, ObservedKey};
use super::rules::{GroupRef, Rule, Source};
use super::spec::{FleetSpec, InstanceGroup, tags};

/// Launches in flight at once: enough to hide latency, few enough not to be throttled.
const LAUNCH_CONCURRENCY: usize = 8;
/// How long a just-created group may stay invisible (`InvalidGroup.NotFound`).
const CONSISTENCY_WAIT: Duration = Duration::from_secs(60);
/// Attempts per launch when the response is lost or the call is refused transiently.
const LAUNCH_ATTEMPTS: u32 = 8;

/// What to wait for after the changes.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Every instance `running`.
    pub running: bool,
    /// ...and its SSH port accepting connections.
    pub ssh: bool,
    pub ssh_port: u16,
    pub timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> WaitOptions {
        WaitOptions {
            running: false,
            ssh: false,
            ssh_port: 22,
            timeout: Duration::from_secs(600),
        }
    }
}

/// The fleet as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct FleetState {
    pub vpc_id: String,
    pub group_id: Option<String>,
    pub key: Option<ObservedKey>,
    /// The live instances, by role and slot.
    pub instances: Vec<Instance>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Provisioned {
    pub state: FleetState,
    pub launched: Vec<String>,
    pub started: Vec<String>,
    pub terminated: Vec<String>,
}

/// The state described by an observation (when there is nothing to apply).
pub fn current_state(observed: &Observed) -> FleetState {
    FleetState {
        vpc_id: observed.vpc_id.clone(),
        group_id: observed.group.as_ref().map(|g| g.id.clone()),
        key: observed.key.clone(),
        instances: live_sorted(&observed.instances),
    }
}

fn live_sorted(instances: &[Instance]) -> Vec<Instance> {
    let mut live: Vec<Instance> = instances
        .iter()
        .filter(|i| i.state.is_alive())
        .cloned()
        .collect();
    // By role, then slot; instances without a slot (not launched by poseidon) last.
    live.sort_by_key(|i| (i.role.clone(), i.slot.is_none(), i.slot, i.id.clone()));
    live
}

/// Applies `plan` (made from `observed`), then waits as asked. On failure, the error
/// says what had been done: everything done stays, and the next run continues from it.
pub async fn apply(
    ec2: &Ec2,
    spec: &FleetSpec,
    observed: &Observed,
    plan: &FleetPlan,
    wait: &WaitOptions,
) -> Result<Provisioned, ProvisionError> {
    let mut done = Vec::new();
    let result = apply_steps(ec2, spec, observed, plan, wait, &mut done).await;
    result.map_err(|e| e.after(&done))
}

async fn apply_steps(
    ec2: &Ec2,
    spec: &FleetSpec,
    observed: &Observed,
    plan: &FleetPlan,
    wait: &WaitOptions,
    done: &mut Vec<String>,
) -> Result<Provisioned, ProvisionError> {
    let group_id = match &observed.group {
        Some(group) => group.id.clone(),
        None => {
            let id = create_group(ec2, spec, &observed.vpc_id).await?;
            done.push(format!(
                "created security group {} ({id})",
                spec.security_group.name
            ));
            id
        }
    };
    if !plan.add_rules.is_empty() {
        authorize(ec2, &group_id, &plan.add_rules).await?;
        done.push(format!("added {} rule(s)", plan.add_rules.len()));
    }
    if !plan.remove_rules.is_empty() {
        revoke(ec2, &group_id, &plan.remove_rules).await?;
        done.push(format!("revoked {} rule(s)", plan.remove_rules.len()));
    }
    match &plan.key {
        KeyAction::Keep => {}
        KeyAction::Import => {
            import_key(ec2, spec).await?;
            done.push(format!("imported key pair {}", spec.key_pair.name));
        }
        KeyAction::Create(path) => {
            create_key(ec2, spec, path).await?;
            done.push(format!(
                "created key pair {} (private key in {})",
                spec.key_pair.name,
                path.display()
            ));
        }
    }
    let terminated: Vec<String> = plan.terminate.iter().map(|t| t.id.clone()).collect();
    if !terminated.is_empty() {
        ec2.client
            .terminate_instances()
            .set_instance_ids(Some(terminated.clone()))
            .send()
            .await
            .map_err(|e| ProvisionError::api("terminating surplus instances", &e))?;
        done.push(format!("terminated {}", terminated.join(", ")));
    }
    if !plan.start.is_empty() {
        ec2.client
            .start_instances()
            .set_instance_ids(Some(plan.start.clone()))
            .send()
            .await
            .map_err(|e| ProvisionError::api("starting stopped instances", &e))?;
        done.push(format!("started {}", plan.start.join(", ")));
    }
    let launched = launch_all(ec2, spec, &group_id, &plan.launch, done).await?;
    if wait.running || wait.ssh {
        let expected: BTreeSet<String> = observed
            .instances
            .iter()
            .filter(|i| i.state.is_alive() && !terminated.contains(&i.id))
            .map(|i| i.id.clone())
            .chain(launched.iter().cloned())
            .collect();
        wait_until_running(ec2, &spec.project, &expected, wait).await?;
    }
    let instances = project_instances(ec2, &spec.project).await?;
    Ok(Provisioned {
        state: FleetState {
            vpc_id: observed.vpc_id.clone(),
            group_id: Some(group_id),
            key: observed.key.clone().or_else(|| {
                Some(ObservedKey {
                    name: spec.key_pair.name.clone(),
                    id: None,
                    fingerprint: None,
                    owned: true,
                    created: matches!(plan.key, KeyAction::Create(_)),
                })
            }),
            instances: live_sorted(&instances),
        },
        launched,
        started: plan.start.clone(),
        terminated,
    })
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tag_spec(resource: ResourceType, tags: impl IntoIterator<Item = Tag>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(tags.into_iter().collect()))
        .build()
}

async fn create_group(ec2: &Ec2, spec: &FleetSpec, vpc_id: &str) -> Result<String, ProvisionError> {
    let group = &spec.security_group;
    let created = ec2
        .client
        .create_security_group()
        .group_name(&group.name)
        .description(&group.description)
        .vpc_id(vpc_id)
        .tag_specifications(tag_spec(
            ResourceType::SecurityGroup,
            [tag(tags::PROJECT, &spec.project), tag("Name", &group.name)],
        ))
        .send()
        .await
        .map_err(|e| {
            ProvisionError::api(format!("creating security group '{}'", group.name), &e)
        })?;
    created
        .group_id()
        .map(str::to_owned)
        .ok_or_else(|| ProvisionError::Config("CreateSecurityGroup returned no group id".into()))
}

fn permission(rule: &Rule, group_id: &str) -> IpPermission {
    let builder = IpPermission::builder()
        .ip_protocol(rule.protocol.api_name())
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    match &rule.source {
        Source::Cidr(cidr) if cidr.contains(':') => {
            builder.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build())
        }
        Source::Cidr(cidr) => builder.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
        Source::Group(reference) => {
            let id = match reference {
                GroupRef::Own => group_id,
                GroupRef::Id(id) => id,
            };
            builder.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
        }
    }
    .build()
}

async fn authorize(ec2: &Ec2, group_id: &str, rules: &[Rule]) -> Result<(), ProvisionError> {
    let permissions: Vec<IpPermission> = rules.iter().map(|r| permission(r, group_id)).collect();
    let result = eventually_visible(|| {
        ec2.client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions.clone()))
            .send()
    })
    .await;
    match result {
        Ok(_) => Ok(()),
        // Another run added them in between: the state is the wanted one.
        Err(e) if code_of(&e) == Some("InvalidPermission.Duplicate") => Ok(()),
        Err(e) => Err(ProvisionError::api(
            format!("adding rules to {group_id}"),
            &e,
        )),
    }
}

async fn revoke(ec2: &Ec2, group_id: &str, rules: &[Rule]) -> Result<(), ProvisionError> {
    let permissions: Vec<IpPermission> = rules.iter().map(|r| permission(r, group_id)).collect();
    ec2.client
        .revoke_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(permissions))
        .send()
        .await
        .map_err(|e| ProvisionError::api(format!("revoking rules of {group_id}"), &e))?;
    Ok(())
}

/// Retries a call that names a just-created security group while EC2 does not see it
/// yet (`InvalidGroup.NotFound`), with bounded exponential backoff.
async fn eventually_visible<T, E, F, Fut>(mut call: F) -> Result<T, SdkError<E>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let deadline = Instant::now() + CONSISTENCY_WAIT;
    let mut delay = Duration::from_millis(100);
    loop {
        match call().await {
            Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") && Instant::now() < deadline => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

fn key_tags(spec: &FleetSpec, origin: &str) -> TagSpecification {
    tag_spec(
        ResourceType::KeyPair,
        [
            tag(tags::PROJECT, &spec.project),
            tag(tags::KEY_ORIGIN, origin),
        ],
    )
}

async fn import_key(ec2: &Ec2, spec: &FleetSpec) -> Result<(), ProvisionError> {
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

async fn create_key(
    ec2: &Ec2,
    spec: &FleetSpec,
    path: &std::path::Path,
) -> Result<(), ProvisionError> {
    let name = &spec.key_pair.name;
    let claim = ClaimedKeyFile::claim(path).map_err(|source| ProvisionError::Io {
        action: format!("creating the private key file {}", path.display()),
        source,
    })?;
    let created = ec2
        .client
        .create_key_pair()
        .key_name(name)
        .key_type(KeyType::Ed25519)
        .tag_specifications(key_tags(spec, "created"))
        .send()
        .await
        .map_err(|e| ProvisionError::api(format!("creating key pair '{name}'"), &e))?;
    let material = created.key_material().unwrap_or_default();
    if let Err(source) = claim.fill(material) {
        // A pair whose private key is lost is useless and would block the next run.
        let _ = ec2.client.delete_key_pair().key_name(name).send().await;
        return Err(ProvisionError::Io {
            action: format!("writing the private key of '{name}' to {}", path.display()),
            source,
        });
    }
    Ok(())
}

async fn launch_all(
    ec2: &Ec2,
    spec: &FleetSpec,
    group_id: &str,
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
                async move {
                    let result = launch_one(ec2, spec, group, group_id, &launch, root).await;
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
    group_id: &str,
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
            group_id,
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
    group_id: &str,
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
        .security_group_ids(group_id)
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

/// Polls until every expected instance is running (and answers on SSH when asked);
/// at the deadline, fails naming the instances that did not get there.
async fn wait_until_running(
    ec2: &Ec2,
    project: &str,
    expected: &BTreeSet<String>,
    wait: &WaitOptions,
) -> Result<(), ProvisionError> {
    let deadline = Instant::now() + wait.timeout;
    let mut delay = Duration::from_millis(250);
    let mut ssh_ready: BTreeSet<String> = BTreeSet::new();
    loop {
        let instances = project_instances(ec2, project).await?;
        let mut pending = Vec::new();
        let mut probes = Vec::new();
        for id in expected {
            match instances.iter().find(|i| &i.id == id) {
                Some(i) if i.state == InstanceState::Running => {
                    if wait.ssh && !ssh_ready.contains(id) {
                        probes.push(i.clone());
                    }
                }
                Some(i) => pending.push(format!("{id} ({})", i.state.name())),
                None => pending.push(format!("{id} (not listed yet)")),
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let answers = futures_util::future::join_all(
            probes
                .iter()
                .map(|i| ssh_answers(i, wait.ssh_port, remaining.min(Duration::from_secs(3)))),
        )
        .await;
        for (instance, up) in probes.iter().zip(answers) {
            if up {
                ssh_ready.insert(instance.id.clone());
            } else {
                pending.push(format!(
                    "{} (no SSH server answering on port {})",
                    instance.id, wait.ssh_port
                ));
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let what = if wait.ssh {
                "instances running and answering on SSH"
            } else {
                "instances running"
            };
            return Err(ProvisionError::Timeout {
                what: format!("waited for {what}"),
                timeout: wait.timeout,
                pending,
            });
        }
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// An SSH server speaks first: its identification line (`SSH-2.0-...`, RFC 4253). A bare
/// TCP connect is not enough, since firewalls and transparent proxies accept those for
/// any address.
async fn ssh_answers(instance: &Instance, port: u16, timeout: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let Some(address) = instance.public_ip.as_ref().or(instance.private_ip.as_ref()) else {
        return false;
    };
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect((address.as_str(), port)).await?;
        let mut banner = [0u8; 4];
        stream.read_exact(&mut banner).await?;
        Ok::<_, std::io::Error>(&banner == b"SSH-")
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(true)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write as _;
    use std::net::TcpListener;

    use super::*;

    fn at(address: &str) -> Instance {
        Instance {
            id: "i-1".into(),
            role: "web".into(),
            slot: Some(0),
            state: InstanceState::Running,
            launch_time: 0,
            private_ip: Some(address.into()),
            public_ip: None,
            availability_zone: None,
            instance_type: None,
            image_id: None,
            tags: BTreeMap::new(),
        }
    }

    /// A listener that accepts and then says `greeting` (or nothing).
    fn listener(greeting: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.write_all(greeting);
                // Held open until the probe hangs up.
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
            }
        });
        port
    }

    #[tokio::test]
    async fn only_an_ssh_greeting_counts_as_ssh_up() {
        let timeout = Duration::from_millis(500);
        let ssh = listener(b"SSH-2.0-OpenSSH_9.2\r\n");
        assert!(ssh_answers(&at("127.0.0.1"), ssh, timeout).await);
        // A port that accepts but does not speak SSH (a proxy, another service).
        let silent = listener(b"");
        assert!(!ssh_answers(&at("127.0.0.1"), silent, timeout).await);
        let http = listener(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert!(!ssh_answers(&at("127.0.0.1"), http, timeout).await);
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(!ssh_answers(&at("127.0.0.1"), closed, timeout).await);
    }
}
