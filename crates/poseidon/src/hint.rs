//! The next step, worded once: what a newcomer reads when a program Poseidon runs is not
//! installed, or a server it needs does not answer. Each names the cause and the way out,
//! and reads the same wherever the library meets it (`nginx -t`, `supervisord`, `ip`,
//! `promtool`; Redis, MariaDB).

use std::ffi::OsStr;
use std::io;
use std::path::Path;

/// The Debian packages of the programs Poseidon runs, where the package has another name.
const PACKAGES: &[(&str, &str)] = &[
    ("supervisord", "supervisor"),
    ("supervisorctl", "supervisor"),
    ("node", "nodejs"),
    ("ip", "iproute2"),
    ("promtool", "prometheus"),
    ("amtool", "prometheus-alertmanager"),
    ("alertmanager", "prometheus-alertmanager"),
    ("mariadbd", "mariadb-server"),
    ("mysqld", "mariadb-server"),
    ("mariadb", "mariadb-client"),
    ("mysql", "mariadb-client"),
    ("sshd", "openssh-server"),
    ("ssh-keygen", "openssh-client"),
    ("systemd-analyze", "systemd"),
    ("java", "default-jre-headless"),
];

/// The Debian package that installs `program` (its own name where no other is known).
pub fn debian_package(program: &str) -> &str {
    PACKAGES
        .iter()
        .find(|(name, _)| *name == program)
        .map_or(program, |(_, package)| package)
}

/// `program` could not be started because it is not there.
pub fn not_installed(program: &OsStr) -> String {
    let path = Path::new(program);
    let name = path
        .file_name()
        .map_or_else(|| program.to_string_lossy(), |n| n.to_string_lossy());
    let package = debian_package(&name);
    if path.components().count() > 1 {
        format!(
            "{} does not exist: install {name} there (Debian: apt install {package}), or give \
             the path where it is installed",
            path.display()
        )
    } else {
        format!(
            "`{name}` is not installed on this host (not found on PATH): install it (Debian: \
             apt install {package}; scripts/setup.sh installs what the local default needs)"
        )
    }
}

/// The error of starting `program`: a missing program becomes [`not_installed`]'s sentence,
/// any other cause is kept as it is.
pub fn spawn_error(program: &OsStr, error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::NotFound {
        io::Error::new(io::ErrorKind::NotFound, not_installed(program))
    } else {
        error
    }
}

/// A server Poseidon connects to, for the sentence that says it did not answer.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    /// What it is: "Redis", "MariaDB".
    pub what: &'a str,
    /// How users say where it runs: "redis_url in a playbook, POSEIDON_REDIS_URL or
    /// --redis-url for the CLI".
    pub set_by: &'a str,
}

impl Server<'_> {
    /// Why a connection to `address` failed and the way out, for the causes a newcomer
    /// meets (nothing listening, no route, no answer); `None` for any other.
    pub fn unreachable(&self, address: &str, kind: io::ErrorKind) -> Option<String> {
        let Server { what, set_by } = self;
        match kind {
            io::ErrorKind::ConnectionRefused => Some(format!(
                "nothing listens at {address}: {what} is not running there. Start it \
                 (scripts/up.sh starts the local default's), or say where it runs ({set_by})"
            )),
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => Some(format!(
                "no route to {address}: check the address ({set_by}) and the network between \
                 (on AWS, the security groups)"
            )),
            io::ErrorKind::TimedOut => Some(format!(
                "{address} did not answer in time: check the address ({set_by}), and that no \
                 firewall or security group drops the connection to {what}"
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_package() {
        let message = not_installed(OsStr::new("supervisord"));
        assert!(
            message.contains("`supervisord` is not installed"),
            "{message}"
        );
        assert!(message.contains("apt install supervisor;"), "{message}");
        let message = not_installed(OsStr::new("nginx"));
        assert!(message.contains("apt install nginx;"), "{message}");
        let message = not_installed(OsStr::new("/opt/tomcat/bin/catalina.sh"));
        assert!(
            message.starts_with("/opt/tomcat/bin/catalina.sh does not exist"),
            "{message}"
        );
    }

    #[test]
    fn only_a_missing_program_is_reworded() {
        let missing = spawn_error(
            OsStr::new("promtool"),
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert!(missing.to_string().contains("apt install prometheus;"));
        let denied = spawn_error(
            OsStr::new("promtool"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(denied.kind(), io::ErrorKind::PermissionDenied);
        assert!(!denied.to_string().contains("apt"));
    }

    #[test]
    fn an_unreachable_server_says_how_to_point_at_it() {
        let redis = Server {
            what: "Redis",
            set_by: "redis_url",
        };
        let refused = redis
            .unreachable("127.0.0.1:6379", io::ErrorKind::ConnectionRefused)
            .unwrap();
        assert!(refused.contains("nothing listens at 127.0.0.1:6379"));
        assert!(refused.contains("scripts/up.sh") && refused.contains("(redis_url)"));
        assert!(
            redis
                .unreachable("x:1", io::ErrorKind::PermissionDenied)
                .is_none()
        );
    }
}
