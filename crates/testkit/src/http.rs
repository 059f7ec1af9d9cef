//! One HTTP GET for tests that look at what a server answers.

use std::time::Duration;

/// `GET url`: the status and the body, whatever the status; `(0, the error)` when there
/// was no HTTP answer (refused, or no answer within 30 s: long enough for a request a test holds).
pub fn http_get(url: &str) -> (u16, String) {
    answer(agent().get(url).call())
}

/// `POST url` with a form body (`application/x-www-form-urlencoded`, as a browser's form
/// sends): the status and the body, whatever the status; `(0, the error)` without an answer.
pub fn http_post_form(url: &str, form: &str) -> (u16, String) {
    answer(
        agent()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(form),
    )
}

/// An agent that reports every status as an answer, bounded by 30 s.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
    match result {
        Ok(mut response) => (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}
