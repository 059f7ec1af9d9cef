//! checkbox.io's survey renderer as a library and a service.
//!
//! - [`dialect`]: survey markdown (a JSON5 header, GitHub-flavoured markdown, questions
//!   and their inputs) rendered to the HTML of a survey form; the contract is
//!   `docs/survey-markdown.md`.
//! - [`service`]: the HTTP service (`POST /render` and its aliases, `/healthz`,
//!   `/metrics`), its feature flag cache, graceful shutdown.
pub mod dialect;
pub mod service;
