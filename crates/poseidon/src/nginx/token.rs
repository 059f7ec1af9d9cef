//! Values that end up in nginx's configuration language. The renderer never quotes or
//! escapes: a value either is a plain token nginx reads as one word, or it is refused,
//! so that no input can close a directive and open another (`a; include /etc/x`).

use super::error::SpecError;

/// Names of upstreams: letters, digits, `_`, `-`, `.`.
pub(crate) fn name(what: &'static str, value: &str) -> Result<(), SpecError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then_some(())
        .ok_or_else(|| invalid(what, value, "use 1 to 64 letters, digits, '_', '-' or '.'"))
}

/// `host:port` of a backend: a host name or IPv4 address, or `[IPv6]`, and a port.
pub(crate) fn address(what: &'static str, value: &str) -> Result<(), SpecError> {
    let reason = "expected host:port (a host name, an IPv4 address or [IPv6], and a port 1-65535)";
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| invalid(what, value, reason))?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    (port_ok && host_ok)
        .then_some(())
        .ok_or_else(|| invalid(what, value, reason))
}

/// A location's URI prefix: starts with `/`, then URL path characters only.
pub(crate) fn uri_path(what: &'static str, value: &str) -> Result<(), SpecError> {
    let ok = value.starts_with('/')
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~' | '%' | '@' | '+')
        });
    ok.then_some(()).ok_or_else(|| {
        invalid(
            what,
            value,
            "a path starting with '/' of letters, digits and - _ . ~ % @ +",
        )
    })
}

/// An absolute file system path nginx reads as one word.
pub(crate) fn file_path(what: &'static str, value: &std::path::Path) -> Result<(), SpecError> {
    let text = value.to_str().unwrap_or("");
    let ok = value.is_absolute()
        && !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '+' | '@' | ',')
        });
    ok.then_some(()).ok_or_else(|| {
        invalid(
            what,
            &value.display().to_string(),
            "an absolute path of letters, digits and / - _ . + @ , (no spaces, quotes or ';')",
        )
    })
}

pub(crate) fn invalid(what: &'static str, value: &str, reason: &str) -> SpecError {
    SpecError::Invalid {
        what,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_that_could_break_out_of_a_directive_are_refused() {
        assert!(name("upstream", "checkbox_app-1.v2").is_ok());
        for bad in [
            "",
            "a b",
            "a;",
            "a}",
            "a{",
            "x\ninclude",
            "\"q\"",
            "$var",
            "é",
        ] {
            assert!(name("upstream", bad).is_err(), "{bad:?}");
        }
        for good in ["127.0.0.1:3001", "app-1.internal:80", "[::1]:8080"] {
            assert!(address("backend", good).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            ":80",
            "a b:80",
            "h:80; down",
            "[zz]:80",
            "unix:/tmp/s",
        ] {
            assert!(address("backend", bad).is_err(), "{bad:?}");
        }
        assert!(uri_path("location", "/api/design/survey").is_ok());
        for bad in ["api", "/a b", "/a;", "/{x}", "/$uri"] {
            assert!(uri_path("location", bad).is_err(), "{bad:?}");
        }
        assert!(file_path("root", std::path::Path::new("/srv/www/static")).is_ok());
        for bad in ["relative", "/a b", "/a;b", "/a\"b", "/a$b"] {
            assert!(
                file_path("root", std::path::Path::new(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
