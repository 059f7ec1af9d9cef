//! One instance of an application, validated: everything a supervisor program or a
//! systemd unit is made of. Only [`Instance::new`] makes one, so a value that could not
//! be put into either configuration safely is refused before anything is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the caller describes; [`Instance::new`] checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// The application's name: lowercase letters, digits, `-` and `_`.
    pub app: String,
    /// The port the instance listens on; also its name (`<app>-<port>`).
    pub port: u16,
    /// The application's root on the host (`release::store::Host`'s): the instance runs
    /// in `<root>/instances/<port>/current`.
    pub root: PathBuf,
    /// The command, as an argument vector (`["node", "bin/checkbox.js"]`).
    pub argv: Vec<String>,
    /// The release the instance runs: `RELEASE_ID` in its environment.
    pub release_id: String,
    /// More environment (`PORT` and `RELEASE_ID` are the instance's own and refused here).
    pub environment: BTreeMap<String, String>,
    pub stop_signal: StopSignal,
    /// How long the application may take to shut down gracefully before it is killed.
    pub stop_wait: Duration,
    /// Where the instance's output goes: `<log_dir>/<app>-<port>.log`.
    pub log_dir: PathBuf,
    /// The user it runs as; the supervisor's own when unset.
    pub user: Option<String>,
}

/// The signals an application may ask to be stopped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopSignal {
    #[default]
    Term,
    Int,
    Quit,
    Hup,
}

impl StopSignal {
    /// The name without `SIG`, as supervisor writes it (`TERM`).
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Term => "TERM",
            StopSignal::Int => "INT",
            StopSignal::Quit => "QUIT",
            StopSignal::Hup => "HUP",
        }
    }
}

/// A value of the instance that cannot be put into a configuration safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {reason}")]
pub struct SpecError {
    pub what: String,
    pub value: String,
    pub reason: &'static str,
}

/// A checked instance. Its fields are read through methods so that none can be changed
/// past the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    config: InstanceConfig,
}

/// The longest stop wait accepted: longer means a rollout step that can hang for hours.
const MAX_STOP_WAIT: Duration = Duration::from_secs(3600);

impl Instance {
    pub fn new(config: InstanceConfig) -> Result<Instance, SpecError> {
        let bad = |what: &str, value: &str, reason| SpecError {
            what: what.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let app = &config.app;
        if app.is_empty()
            || app.len() > 64
            || !app.starts_with(|c: char| c.is_ascii_lowercase())
            || !app
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(bad(
                "app",
                app,
                "use at most 64 lowercase letters, digits, '-' and '_', starting with a letter",
            ));
        }
        if config.port == 0 {
            return Err(bad("port", "0", "an instance needs a port from 1 to 65535"));
        }
        if config.argv.is_empty() || config.argv[0].is_empty() {
            return Err(bad("argv", "", "the command needs a program"));
        }
        for arg in &config.argv {
            plain_value("argv element", arg)?;
        }
        let id = &config.release_id;
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
        {
            return Err(bad(
                "release_id",
                id,
                "use letters, digits, '.', '-', '_' and '+' (as release ids are)",
            ));
        }
        for (name, value) in &config.environment {
            if name == "PORT" || name == "RELEASE_ID" {
                return Err(bad(
                    "environment name",
                    name,
                    "PORT and RELEASE_ID are set from the instance itself",
                ));
            }
            if name.is_empty()
                || name.starts_with(|c: char| c.is_ascii_digit())
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(bad(
                    "environment name",
                    name,
                    "use letters, digits and '_', not starting with a digit",
                ));
            }
            plain_value(&format!("environment {name}"), value)?;
            // supervisor's environment parser keeps no escapes inside quotes and strips
            // every quote at either end of a value: a value holding one cannot survive.
            if value.contains(['"', '\'']) {
                return Err(bad(
                    &format!("environment {name}"),
                    value,
                    "quotes cannot be carried through supervisor's environment= line",
                ));
            }
        }
        if config.stop_wait.is_zero() || config.stop_wait > MAX_STOP_WAIT {
            return Err(bad(
                "stop_wait",
                &format!("{:?}", config.stop_wait),
                "give from 1 s to 1 h",
            ));
        }
        check_path("root", &config.root)?;
        check_path("log_dir", &config.log_dir)?;
        if let Some(user) = &config.user
            && (user.is_empty()
                || user.len() > 32
                || !user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(bad("user", user, "use a plain user name"));
        }
        Ok(Instance { config })
    }

    pub fn app(&self) -> &str {
        &self.config.app
    }

    pub fn port(&self) -> u16 {
        self.config.port
    }

    /// `<app>-<port>`: the supervisor program's name.
    pub fn name(&self) -> String {
        program_name(&self.config.app, self.config.port)
    }

    pub fn root(&self) -> &Path {
        &self.config.root
    }

    /// `<root>/instances/<port>/current`, where the instance runs.
    pub fn directory(&self) -> PathBuf {
        self.config
            .root
            .join("instances")
            .join(self.config.port.to_string())
            .join("current")
    }

    pub fn argv(&self) -> &[String] {
        &self.config.argv
    }

    /// The argument vector as the supervisor runs it: a program named `./<path>` (one in
    /// the release, such as a compiled service) is made absolute through the instance's
    /// `current` pointer, since neither supervisor nor systemd looks a command up in the
    /// working directory. The pointer is resolved when the process starts.
    pub fn command(&self) -> Vec<String> {
        let mut argv = self.config.argv.clone();
        if let Some(relative) = argv[0].strip_prefix("./") {
            argv[0] = self
                .directory()
                .join(relative)
                .to_string_lossy()
                .into_owned();
        }
        argv
    }

    pub fn release_id(&self) -> &str {
        &self.config.release_id
    }

    /// The environment given, without `PORT` and `RELEASE_ID`.
    pub fn given_environment(&self) -> &BTreeMap<String, String> {
        &self.config.environment
    }

    /// The whole environment of the instance: the given one, `PORT` and `RELEASE_ID`.
    pub fn environment(&self) -> BTreeMap<String, String> {
        let mut all = self.config.environment.clone();
        all.insert("PORT".into(), self.config.port.to_string());
        all.insert("RELEASE_ID".into(), self.config.release_id.clone());
        all
    }

    pub fn stop_signal(&self) -> StopSignal {
        self.config.stop_signal
    }

    pub fn stop_wait(&self) -> Duration {
        self.config.stop_wait
    }

    pub fn log_dir(&self) -> &Path {
        &self.config.log_dir
    }

    /// `<log_dir>/<app>-<port>.log`.
    pub fn log_file(&self) -> PathBuf {
        self.config.log_dir.join(format!("{}.log", self.name()))
    }

    pub fn user(&self) -> Option<&str> {
        self.config.user.as_deref()
    }
}

/// A directory written into supervisor's configuration: absolute, UTF-8, one plain
/// word (supervisor's `include` splits its list of files on whitespace).
pub(crate) fn check_path(what: &str, path: &Path) -> Result<(), SpecError> {
    let bad = |value: &str, reason| SpecError {
        what: what.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let text = path
        .to_str()
        .ok_or_else(|| bad(&path.display().to_string(), "the path must be UTF-8"))?;
    if !path.is_absolute() {
        return Err(bad(text, "the path must be absolute"));
    }
    plain_value(what, text)?;
    if text.contains(char::is_whitespace) {
        return Err(bad(text, "the path must hold no whitespace"));
    }
    Ok(())
}

/// `<app>-<port>`, the one spelling of an instance's name.
pub fn program_name(app: &str, port: u16) -> String {
    format!("{app}-{port}")
}

/// The ports of `count` instances from `base` on (`instances: 3` from 3001: 3001, 3002,
/// 3003); refused when there are none or the last would pass 65535.
pub fn instance_ports(base: u16, count: u16) -> Result<Vec<u16>, SpecError> {
    let last = u32::from(base) + u32::from(count) - u32::from(count > 0);
    if base == 0 || count == 0 || last > u32::from(u16::MAX) {
        return Err(SpecError {
            what: "instances".into(),
            value: format!("{count} from port {base}"),
            reason: "give at least one instance, on ports from 1 to 65535",
        });
    }
    Ok((0..count).map(|i| base + i).collect())
}

/// The port of `app`'s instance named `name` (`checkbox-3001` → 3001); `None` for a
/// program of another application, `checkbox-api-3001` included.
pub fn port_of(app: &str, name: &str) -> Option<u16> {
    let port = name.strip_prefix(app)?.strip_prefix('-')?;
    if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|&p| p != 0)
}

/// A value that fits on one line of an INI file (supervisor) or a unit file (systemd):
/// no control characters (a newline would start a new setting), and no `;` or `#`
/// after whitespace, which supervisor's parser takes for the start of a comment.
fn plain_value(what: &str, value: &str) -> Result<(), SpecError> {
    let bad = |reason| SpecError {
        what: what.to_owned(),
        value: value.to_owned(),
        reason,
    };
    if value.chars().any(char::is_control) {
        return Err(bad(
            "it holds a newline or another control character, which would end the setting",
        ));
    }
    // supervisor replaces `%(here)s` with the file's directory before anything else,
    // so not even `%%(here)s` keeps it literal.
    if value.contains("%(here)s") {
        return Err(bad(
            "supervisor replaces %(here)s in every value, escaped or not",
        ));
    }
    let bytes = value.as_bytes();
    if bytes
        .windows(2)
        .any(|w| matches!(w[0], b' ' | b'\t') && matches!(w[1], b';' | b'#'))
    {
        return Err(bad(
            "' ;' or ' #' would start a comment in supervisor's configuration",
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn config() -> InstanceConfig {
        InstanceConfig {
            app: "checkbox".into(),
            port: 3001,
            root: "/srv/checkbox".into(),
            argv: vec!["node".into(), "bin/checkbox.js".into()],
            release_id: "1.4.0-abc123".into(),
            environment: BTreeMap::from([("NODE_ENV".into(), "production".into())]),
            stop_signal: StopSignal::Term,
            stop_wait: Duration::from_secs(10),
            log_dir: "/var/log/checkbox".into(),
            user: Some("checkbox".into()),
        }
    }

    fn refused(change: impl FnOnce(&mut InstanceConfig)) -> SpecError {
        let mut config = config();
        change(&mut config);
        Instance::new(config).expect_err("should be refused")
    }

    #[test]
    fn a_good_instance_has_its_name_directory_environment_and_log() {
        let instance = Instance::new(config()).unwrap();
        assert_eq!(instance.name(), "checkbox-3001");
        assert_eq!(
            instance.directory(),
            Path::new("/srv/checkbox/instances/3001/current")
        );
        assert_eq!(
            instance.log_file(),
            Path::new("/var/log/checkbox/checkbox-3001.log")
        );
        let env = instance.environment();
        assert_eq!(env["PORT"], "3001");
        assert_eq!(env["RELEASE_ID"], "1.4.0-abc123");
        assert_eq!(env["NODE_ENV"], "production");
    }

    #[test]
    fn values_that_would_break_a_configuration_are_refused() {
        let e = refused(|c| {
            c.environment
                .insert("GREETING".into(), "hi\nautorestart=false".into());
        });
        assert_eq!(e.what, "environment GREETING");
        assert!(e.reason.contains("newline"), "{e}");
        assert_eq!(refused(|c| c.argv[1] = "a\rb".into()).what, "argv element");
        assert_eq!(refused(|c| c.argv[1] = "x ;y".into()).what, "argv element");
        let e = refused(|c| c.argv[1] = "%(here)s/x".into());
        assert!(e.reason.contains("%(here)s"), "{e}");
        assert_eq!(refused(|c| c.app = "Checkbox".into()).what, "app");
        assert_eq!(refused(|c| c.app = "a:b".into()).what, "app");
        assert_eq!(refused(|c| c.app = String::new()).what, "app");
        assert_eq!(refused(|c| c.port = 0).what, "port");
        assert_eq!(refused(|c| c.argv.clear()).what, "argv");
        assert_eq!(refused(|c| c.release_id = "1 2".into()).what, "release_id");
        assert_eq!(
            refused(|c| c.release_id = "%(x)s".into()).what,
            "release_id"
        );
        let e = refused(|c| {
            c.environment.insert("PORT".into(), "1".into());
        });
        assert!(e.reason.contains("from the instance"), "{e}");
        let e = refused(|c| {
            c.environment.insert("1X".into(), "1".into());
        });
        assert_eq!(e.what, "environment name");
        let e = refused(|c| {
            c.environment.insert("Q".into(), "say \"hi\"".into());
        });
        assert!(e.reason.contains("quotes"), "{e}");
        assert_eq!(refused(|c| c.stop_wait = Duration::ZERO).what, "stop_wait");
        assert_eq!(refused(|c| c.root = "srv".into()).what, "root");
        assert_eq!(
            refused(|c| c.log_dir = "/var/my logs".into()).what,
            "log_dir"
        );
        assert_eq!(refused(|c| c.user = Some("a b".into())).what, "user");
    }

    #[test]
    fn ports_run_from_the_base_and_names_give_them_back() {
        assert_eq!(instance_ports(3001, 3).unwrap(), [3001, 3002, 3003]);
        assert_eq!(instance_ports(65535, 1).unwrap(), [65535]);
        assert!(instance_ports(65535, 2).is_err());
        assert!(instance_ports(3001, 0).is_err());
        assert!(instance_ports(0, 1).is_err());
        assert_eq!(port_of("checkbox", "checkbox-3001"), Some(3001));
        assert_eq!(port_of("checkbox", "checkbox-api-3001"), None);
        assert_eq!(port_of("checkbox-api", "checkbox-api-3001"), Some(3001));
        assert_eq!(port_of("checkbox", "checkbox3001"), None);
        assert_eq!(port_of("checkbox", "checkbox-"), None);
        assert_eq!(port_of("checkbox", "checkbox-99999"), None);
        assert_eq!(port_of("checkbox", "checkbox-+1"), None);
    }

    #[test]
    fn percent_signs_are_accepted_here_and_escaped_when_rendered() {
        let mut config = config();
        config
            .environment
            .insert("GREETING".into(), "50% off, %(ENV_HOME)s".into());
        config.argv.push("--rate=5%".into());
        assert!(Instance::new(config).is_ok());
    }
}
