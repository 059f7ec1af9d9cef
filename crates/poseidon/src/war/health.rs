//! The health gate: an HTTP probe repeated until it passes or its time is up.

use std::time::{Duration, Instant};

/// What a healthy release answers.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub url: String,
    pub status: u16,
    /// Texts the body must all contain (a build id, say).
    pub contains: Vec<String>,
    pub timeout: Duration,
}

/// Probes until healthy; `Err` carries the last answer.
pub fn wait_healthy(check: &HealthCheck) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let started = Instant::now();
    loop {
        let last = match agent.get(&check.url).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let body = response.body_mut().read_to_string().unwrap_or_default();
                let snippet: String = body.chars().take(300).collect();
                let body_ok = check.contains.iter().all(|c| body.contains(c.as_str()));
                if status == check.status && body_ok {
                    return Ok(format!("HTTP {status}: {}", snippet.trim()));
                }
                format!("HTTP {status}: {}", snippet.trim())
            }
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= check.timeout {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
