//! A Kubernetes client from the standard places, and the errors of talking to a cluster
//! worded for the person who runs the play.
//!
//! Where the configuration comes from: a kubeconfig file named by the task, else
//! kube-rs's inference, as kubectl's: `KUBECONFIG`, then `~/.kube/config`, then the pod's
//! service account when running in a cluster. A credential (token, key, password) is
//! never part of a message: messages name the server, the context and the cause.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig as KubeconfigFile};
use kube::{Client, Config};

/// Where the cluster's configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kubeconfig {
    /// This kubeconfig file.
    File(PathBuf),
    /// `KUBECONFIG`, `~/.kube/config`, or in-cluster, as kubectl looks.
    Standard,
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no cluster configuration: {0}")]
    Config(String),
    #[error(
        "the API server at {server} presented a certificate that the kubeconfig's certificate \
         authority does not trust ({cause}): check certificate-authority-data of the cluster \
         in the kubeconfig, or that {server} is the cluster meant"
    )]
    Untrusted { server: String, cause: String },
    #[error(
        "the API server at {server} refused the kubeconfig's credentials (401 Unauthorized): \
         the token is expired or revoked; get a new one (for EKS, aws eks update-kubeconfig; \
         elsewhere, your cluster's login) and run again"
    )]
    Unauthorized { server: String },
    #[error("the API server at {server} forbids {doing} (403): {message}")]
    Forbidden {
        server: String,
        doing: String,
        message: String,
    },
    #[error("the API server at {server} did not answer {doing}: {cause}")]
    Unreachable {
        server: String,
        doing: String,
        cause: String,
    },
    #[error("{doing}: no answer within {} s", seconds)]
    TimedOut { doing: String, seconds: u64 },
    #[error("{doing}: {message}")]
    Api { doing: String, message: String },
}

/// A client and what messages say of it.
#[derive(Clone)]
pub struct Connected {
    pub client: Client,
    /// The same, without kube-rs's retries: for the service proxy.
    pub proxy_client: Client,
    /// The API server's URL.
    pub server: String,
    /// The context's namespace (`default` when it names none).
    pub namespace: String,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Loads the configuration and makes a client; `request_timeout` bounds each answer.
pub async fn connect(
    source: &Kubeconfig,
    context: Option<&str>,
    request_timeout: Duration,
) -> Result<Connected, KubeError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let mut config = match source {
        Kubeconfig::File(path) => {
            let file = KubeconfigFile::read_from(path).map_err(|e| {
                KubeError::Config(format!("reading the kubeconfig {}: {e}", path.display()))
            })?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| KubeError::Config(format!("the kubeconfig {}: {e}", path.display())))?
        }
        Kubeconfig::Standard if context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| KubeError::Config(format!("KUBECONFIG or ~/.kube/config: {e}")))?,
        Kubeconfig::Standard => Config::infer().await.map_err(|e| {
            KubeError::Config(format!(
                "none found in KUBECONFIG, ~/.kube/config or a pod's service account ({e}); \
                 name one with the kubeconfig option"
            ))
        })?,
    };
    config.read_timeout = Some(request_timeout);
    config.write_timeout = Some(request_timeout);
    config.connect_timeout = Some(request_timeout.min(Duration::from_secs(10)));
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    let namespace = config.default_namespace.clone();
    // kube-rs retries 429, 503 and 504 with back-off by default: right for API calls, wrong
    // for the service proxy, whose 503 ("no endpoints available") the smoke test waits out
    // itself, within its own bound.
    let mut once = config.clone();
    once.default_retry = false;
    let client_of = |config: Config| {
        Client::try_from(config).map_err(|e| KubeError::Config(format!("{server}: {e}")))
    };
    Ok(Connected {
        client: client_of(config)?,
        proxy_client: client_of(once)?,
        server,
        namespace,
    })
}

/// Words a failed call: `doing` says what was asked ("applying Deployment/render").
pub fn describe(server: &str, doing: &str, error: kube::Error) -> KubeError {
    if let kube::Error::Api(status) = &error {
        let message = status.message.clone();
        return match status.code {
            401 => KubeError::Unauthorized {
                server: server.to_owned(),
            },
            403 => KubeError::Forbidden {
                server: server.to_owned(),
                doing: doing.to_owned(),
                message,
            },
            _ => KubeError::Api {
                doing: doing.to_owned(),
                message: format!("{message} ({} {})", status.code, status.reason),
            },
        };
    }
    let cause = chain(&error);
    let lower = cause.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        KubeError::Untrusted {
            server: server.to_owned(),
            cause,
        }
    } else {
        KubeError::Unreachable {
            server: server.to_owned(),
            doing: doing.to_owned(),
            cause,
        }
    }
}

/// The error and its causes, each once.
fn chain(error: &dyn std::error::Error) -> String {
    let mut words = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !words.iter().any(|w| w.contains(&text)) {
            words.push(text);
        }
        source = cause.source();
    }
    words.join(": ")
}
