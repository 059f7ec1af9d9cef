//! Failures as the API server answers them: a `Status` object with a code and a reason.

use serde_json::{Value, json};

use super::resources::Resource;

#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// `deployments.apps "x" not found`, as for any object of `resource`.
    pub(crate) fn not_found(resource: &Resource, name: &str) -> ApiError {
        ApiError {
            details: Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
            ..ApiError::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", resource.qualified_plural()),
            )
        }
    }

    /// A path the stand-in serves nothing at.
    pub(crate) fn no_such_path() -> ApiError {
        ApiError {
            details: Some(json!({})),
            ..ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        }
    }

    pub(crate) fn already_exists(resource: &Resource, name: &str) -> ApiError {
        ApiError {
            details: Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
            ..ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", resource.qualified_plural()),
            )
        }
    }

    pub(crate) fn conflict(resource: &Resource, name: &str) -> ApiError {
        ApiError {
            details: Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
            ..ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    resource.qualified_plural()
                ),
            )
        }
    }

    /// 422 Invalid: `Deployment.apps "x" is invalid: <field>: <message>`.
    pub(crate) fn invalid(
        resource: &Resource,
        name: &str,
        field: &str,
        cause_reason: &str,
        message: &str,
    ) -> ApiError {
        ApiError {
            details: Some(json!({
                "name": name,
                "group": resource.group,
                "kind": resource.kind,
                "causes": [{"reason": cause_reason, "message": message, "field": field}],
            })),
            ..ApiError::new(
                422,
                "Invalid",
                format!(
                    "{} \"{name}\" is invalid: {field}: {message}",
                    resource.qualified_kind()
                ),
            )
        }
    }

    /// 422 for options the request cannot have (an apply without `fieldManager`).
    pub(crate) fn invalid_options(message: &str) -> ApiError {
        ApiError {
            details: Some(json!({
                "group": "meta.k8s.io",
                "kind": "PatchOptions",
                "causes": [{
                    "reason": "FieldValueRequired",
                    "message": "Required value: is required for apply patch",
                    "field": "fieldManager",
                }],
            })),
            ..ApiError::new(422, "Invalid", message)
        }
    }

    pub(crate) fn method_not_allowed() -> ApiError {
        ApiError {
            details: Some(json!({})),
            ..ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        }
    }

    pub(crate) fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    }

    pub(crate) fn service_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, "ServiceUnavailable", message)
    }

    /// The `Status` object of this failure.
    pub(crate) fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status["code"] = json!(self.code);
        status
    }
}
