//! The health gate: an HTTP probe repeated until it passes, answers a definite failure,
//! or its time is up.

use std::time::{Duration, Instant};

use ureq::http::Uri;

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between probes while the application starts.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// What a healthy release answers. Only [`HealthCheck::new`] makes one, so a URL or a
/// status that cannot work is refused before anything is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    url: String,
    status: u16,
    contains: Vec<String>,
    timeout: Duration,
}

/// Which part of a health check is wrong; modules name their own option for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHealthCheck {
    #[error("{0:?} is not an http:// or https:// URL with a host")]
    Url(String),
    #[error("{0} is not an HTTP status (100 to 599)")]
    Status(u16),
}

impl HealthCheck {
    /// A check of `url`, healthy when it answers `status` with a body holding every text
    /// of `contains` (empty texts, an unset variable say, ask for nothing).
    pub fn new(
        url: &str,
        status: u16,
        contains: Vec<String>,
        timeout: Duration,
    ) -> Result<HealthCheck, BadHealthCheck> {
        let uri: Uri = url.parse().map_err(|_| BadHealthCheck::Url(url.into()))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        let host_ok = uri.host().is_some_and(|host| !host.is_empty());
        if !scheme_ok || !host_ok {
            return Err(BadHealthCheck::Url(url.into()));
        }
        if !(100..=599).contains(&status) {
            return Err(BadHealthCheck::Status(status));
        }
        Ok(HealthCheck {
            url: url.to_owned(),
            status,
            contains: contains.into_iter().filter(|t| !t.is_empty()).collect(),
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn contains(&self) -> &[String] {
        &self.contains
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same check with another time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> HealthCheck {
        self.timeout = timeout;
        self
    }

    /// The same check of another URL (a candidate's), which must be valid too.
    pub fn at(&self, url: &str) -> Result<HealthCheck, BadHealthCheck> {
        HealthCheck::new(url, self.status, self.contains.clone(), self.timeout)
    }

    /// The URL with `prefix` put before its path: `http://h:8080/app/health` with
    /// `/poseidon-candidate` is `http://h:8080/poseidon-candidate/app/health`. `None`
    /// when the path is not under `/<context>` (on a segment boundary).
    pub fn url_under(&self, context: &str, prefix: &str) -> Option<String> {
        let uri: Uri = self.url.parse().ok()?;
        let authority = uri.authority()?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let under_context = context.is_empty()
            || path
                .strip_prefix('/')
                .and_then(|rest| rest.strip_prefix(context))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        let scheme = uri.scheme_str()?;
        under_context.then(|| format!("{scheme}://{authority}{prefix}{path}"))
    }
}

/// Who answers the probed URL, which decides what an unexpected answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// A URL only the new release answers (a candidate context): an answer with the
    /// expected status but the wrong body is the new release's own, so it is final.
    NewOnly,
    /// The live URL, where the previous release answers until the new one has started:
    /// a wrong body there may be the previous release, so it is waited out.
    Shared,
}

/// One probe's answer, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy(String),
    /// Not there yet: refused, 404, 503, or (on a shared URL) another release's answer.
    Starting(String),
    /// A definite failure: waiting longer would not change it.
    Failed(String),
}

/// Judges an answer (`None`: no HTTP answer, `error` says why).
pub fn judge(check: &HealthCheck, serving: Serving, answer: Result<(u16, &str), &str>) -> Verdict {
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(error) => return Verdict::Starting(error.to_owned()),
    };
    let snippet: String = body.chars().take(300).collect();
    let shown = format!("HTTP {status}: {}", snippet.trim());
    let body_ok = check.contains.iter().all(|c| body.contains(c.as_str()));
    if status == check.status && body_ok {
        return Verdict::Healthy(shown);
    }
    match status {
        // 404: the context is not deployed or not started yet. 503 is what an
        // application (and Tomcat for a context being started) answers while it gets
        // ready (RFC 9110, 15.6.4): retried until the timeout.
        404 | 503 => Verdict::Starting(shown),
        500..=599 => Verdict::Failed(shown),
        _ if status == check.status && serving == Serving::NewOnly => {
            let missing: Vec<String> = check
                .contains
                .iter()
                .filter(|c| !body.contains(c.as_str()))
                .map(|c| format!("{c:?}"))
                .collect();
            Verdict::Failed(format!("{shown} (without {})", missing.join(" and ")))
        }
        _ => Verdict::Starting(shown),
    }
}

/// Why a gate did not pass, with the last answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unhealthy {
    /// A definite failure, seen after `after`.
    Failed { last: String, after: Duration },
    /// Still not healthy when the time was up.
    TimedOut { last: String, after: Duration },
}

impl Unhealthy {
    pub fn last(&self) -> &str {
        match self {
            Unhealthy::Failed { last, .. } | Unhealthy::TimedOut { last, .. } => last,
        }
    }
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhealthy::Failed { last, after } => {
                write!(
                    f,
                    "{last}, a definite failure after {:.1} s",
                    after.as_secs_f64()
                )
            }
            Unhealthy::TimedOut { last, after } => {
                write!(f, "still {last} after {} s", after.as_secs())
            }
        }
    }
}

/// Probes until healthy (`Ok` with the answer), a definite failure, or the timeout.
pub fn wait_healthy(check: &HealthCheck, serving: Serving) -> Result<String, Unhealthy> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(PROBE_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let started = Instant::now();
    loop {
        let verdict = match agent.get(&check.url).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let body = response.body_mut().read_to_string().unwrap_or_default();
                judge(check, serving, Ok((status, &body)))
            }
            Err(e) => judge(check, serving, Err(&e.to_string())),
        };
        let after = started.elapsed();
        match verdict {
            Verdict::Healthy(answer) => return Ok(answer),
            Verdict::Failed(last) => return Err(Unhealthy::Failed { last, after }),
            Verdict::Starting(last) if after >= check.timeout => {
                return Err(Unhealthy::TimedOut { last, after });
            }
            Verdict::Starting(_) => std::thread::sleep(PROBE_INTERVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(contains: &[&str]) -> HealthCheck {
        HealthCheck::new(
            "http://127.0.0.1:8080/app/health",
            200,
            contains.iter().map(|c| (*c).to_owned()).collect(),
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[test]
    fn bad_urls_and_statuses_are_refused() {
        for url in [
            "ftp://x/",
            "http://",
            "127.0.0.1:8080/health",
            "http:// x/",
            "",
        ] {
            assert_eq!(
                HealthCheck::new(url, 200, vec![], Duration::ZERO),
                Err(BadHealthCheck::Url(url.into())),
                "{url}"
            );
        }
        for status in [0, 99, 600] {
            assert_eq!(
                HealthCheck::new("http://x/", status, vec![], Duration::ZERO),
                Err(BadHealthCheck::Status(status))
            );
        }
        assert!(HealthCheck::new("https://x:8443/h?q=1", 204, vec![], Duration::ZERO).is_ok());
        assert_eq!(check(&["", "build 1"]).contains(), ["build 1"]);
    }

    #[test]
    fn definite_failures_end_the_gate_and_start_up_answers_do_not() {
        let c = check(&["build 2"]);
        let judged = |serving, status, body: &str| judge(&c, serving, Ok((status, body)));
        assert!(matches!(
            judged(Serving::NewOnly, 200, "build 2"),
            Verdict::Healthy(_)
        ));
        for status in [500, 502, 504] {
            assert!(matches!(
                judged(Serving::Shared, status, ""),
                Verdict::Failed(_)
            ));
        }
        for status in [404, 503] {
            assert!(matches!(
                judged(Serving::NewOnly, status, ""),
                Verdict::Starting(_)
            ));
        }
        // The wrong build with 200: only the candidate's own answer is final.
        assert_eq!(
            judged(Serving::NewOnly, 200, "build 1"),
            Verdict::Failed("HTTP 200: build 1 (without \"build 2\")".into())
        );
        assert!(matches!(
            judged(Serving::Shared, 200, "build 1"),
            Verdict::Starting(_)
        ));
        assert!(matches!(
            judge(&c, Serving::NewOnly, Err("refused")),
            Verdict::Starting(_)
        ));
        assert!(matches!(
            judged(Serving::NewOnly, 302, ""),
            Verdict::Starting(_)
        ));
    }

    #[test]
    fn candidate_urls_put_the_prefix_before_the_context() {
        let c = check(&[]);
        assert_eq!(
            c.url_under("app", "/poseidon-candidate").as_deref(),
            Some("http://127.0.0.1:8080/poseidon-candidate/app/health")
        );
        assert_eq!(c.url_under("ap", "/p"), None, "a segment boundary");
        assert_eq!(c.url_under("other", "/p"), None);
        assert_eq!(
            c.url_under("", "/p").as_deref(),
            Some("http://127.0.0.1:8080/p/app/health"),
            "ROOT holds every path"
        );
        let query = c.at("http://h/app?probe=1").unwrap();
        assert_eq!(
            query.url_under("app", "/p").as_deref(),
            Some("http://h/p/app?probe=1")
        );
    }
}
