//! Tags as the EC2 API takes them. Its own module so that every step that creates
//! something (`apply`, `launch`, `keypair`) tags it without depending on another step.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

pub(super) fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// Tags given in the creating call itself, so that nothing exists untagged, even briefly.
pub(super) fn tag_spec(
    resource: ResourceType,
    tags: impl IntoIterator<Item = Tag>,
) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(tags.into_iter().collect()))
        .build()
}
