//! The text supervisor reads: Poseidon's own `supervisord.conf` and one
//! `[program:<app>-<port>]` file per instance. Pure functions of their inputs, so the
//! same instance renders the same bytes and an unchanged instance writes nothing.

use std::path::Path;

use super::spec::Instance;

/// How long a program must stay up to count as started (supervisor's `startsecs`):
/// long enough that a crash at start-up is seen as one, short for a rollout.
pub const START_SECS: u32 = 1;
/// Attempts to start before the program is FATAL (supervisor's `startretries`).
pub const START_RETRIES: u32 = 3;

/// The program section of one instance.
///
/// Every value has its `%` doubled: supervisor expands `%(name)s` in `command`,
/// `directory`, `environment` and the log settings, and `%%` is its literal percent.
pub fn render_program(instance: &Instance) -> String {
    let command = instance
        .command()
        .iter()
        .map(|arg| escape_percent(&shell_quote(arg)))
        .collect::<Vec<_>>()
        .join(" ");
    let environment = instance
        .environment()
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape_percent(value)))
        .collect::<Vec<_>>()
        .join(",");
    let mut text = format!(
        "; Written by Poseidon: instance {name} of {app}. Changes here are overwritten.\n\
         [program:{name}]\n\
         command={command}\n\
         directory={directory}\n\
         environment={environment}\n",
        name = instance.name(),
        app = instance.app(),
        directory = escape_percent(&path_text(&instance.directory())),
    );
    if let Some(user) = instance.user() {
        text.push_str(&format!("user={user}\n"));
    }
    text.push_str(&format!(
        "autostart=true\n\
         autorestart=true\n\
         startsecs={START_SECS}\n\
         startretries={START_RETRIES}\n\
         stopsignal={signal}\n\
         stopwaitsecs={wait}\n\
         stopasgroup=true\n\
         killasgroup=true\n\
         redirect_stderr=true\n\
         stdout_logfile={log}\n\
         stdout_logfile_maxbytes=10MB\n\
         stdout_logfile_backups=3\n",
        signal = instance.stop_signal().name(),
        // Whole seconds, rounded up: a stop never gets less time than the app asked for.
        wait = instance.stop_wait().as_millis().div_ceil(1000),
        log = escape_percent(&path_text(&instance.log_file())),
    ));
    text
}

/// The files of a supervisord of Poseidon's own under one state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub state: std::path::PathBuf,
}

impl Layout {
    pub fn new(state: &Path) -> Layout {
        Layout {
            state: state.to_owned(),
        }
    }
    pub fn config(&self) -> std::path::PathBuf {
        self.state.join("supervisord.conf")
    }
    pub fn socket(&self) -> std::path::PathBuf {
        self.state.join("supervisor.sock")
    }
    pub fn pidfile(&self) -> std::path::PathBuf {
        self.state.join("supervisord.pid")
    }
    pub fn log(&self) -> std::path::PathBuf {
        self.state.join("supervisord.log")
    }
    /// Where each instance's program file goes, one per instance.
    pub fn programs(&self) -> std::path::PathBuf {
        self.state.join("programs")
    }
    pub fn program_file(&self, name: &str) -> std::path::PathBuf {
        self.programs().join(format!("{name}.conf"))
    }
}

/// supervisord's own configuration: its socket (mode 0700: only its user controls it),
/// pidfile, log and child logs under the state directory, and the program files.
pub fn render_supervisord(layout: &Layout) -> String {
    let p = |path: &Path| escape_percent(&path_text(path));
    format!(
        "; Written by Poseidon: a supervisord of its own (not the system one).\n\
         [unix_http_server]\n\
         file={socket}\n\
         chmod=0700\n\
         \n\
         [supervisord]\n\
         logfile={log}\n\
         pidfile={pidfile}\n\
         childlogdir={state}\n\
         identifier=poseidon\n\
         \n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
         \n\
         [supervisorctl]\n\
         serverurl=unix://{socket}\n\
         \n\
         [include]\n\
         files = {programs}/*.conf\n",
        socket = p(&layout.socket()),
        log = p(&layout.log()),
        pidfile = p(&layout.pidfile()),
        state = p(&layout.state),
        programs = p(&layout.programs()),
    )
}

fn path_text(path: &Path) -> String {
    // Instance paths were checked to be UTF-8; the state directory is the caller's.
    path.to_string_lossy().into_owned()
}

fn escape_percent(value: &str) -> String {
    value.replace('%', "%%")
}

/// One argument as supervisor's `shlex.split` of `command` reads it back: bare when it
/// is made of safe characters, otherwise in single quotes (a quote inside as `'\''`).
fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::spec::tests::config;

    #[test]
    fn a_program_in_the_release_runs_through_the_instance_pointer() {
        let instance = Instance::new(crate::supervise::InstanceConfig {
            argv: vec!["./checkbox-render".into(), "--threads".into(), "1".into()],
            ..config()
        })
        .unwrap();
        let text = render_program(&instance);
        assert!(
            text.contains(
                "command=/srv/checkbox/instances/3001/current/checkbox-render --threads 1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_program_has_the_settings_of_a_supervised_instance() {
        let text = render_program(&Instance::new(config()).unwrap());
        assert_eq!(
            text,
            "; Written by Poseidon: instance checkbox-3001 of checkbox. Changes here are overwritten.\n\
             [program:checkbox-3001]\n\
             command=node bin/checkbox.js\n\
             directory=/srv/checkbox/instances/3001/current\n\
             environment=NODE_ENV=\"production\",PORT=\"3001\",RELEASE_ID=\"1.4.0-abc123\"\n\
             user=checkbox\n\
             autostart=true\n\
             autorestart=true\n\
             startsecs=1\n\
             startretries=3\n\
             stopsignal=TERM\n\
             stopwaitsecs=10\n\
             stopasgroup=true\n\
             killasgroup=true\n\
             redirect_stderr=true\n\
             stdout_logfile=/var/log/checkbox/checkbox-3001.log\n\
             stdout_logfile_maxbytes=10MB\n\
             stdout_logfile_backups=3\n"
        );
    }

    #[test]
    fn percent_signs_are_doubled_and_odd_arguments_quoted() {
        let mut config = config();
        config
            .environment
            .insert("GREETING".into(), "50% off, %(ENV_HOME)s".into());
        config.argv = vec!["node".into(), "it's here".into(), "--rate=5%".into()];
        config.stop_wait = std::time::Duration::from_millis(1500);
        let text = render_program(&Instance::new(config).unwrap());
        assert!(
            text.contains("GREETING=\"50%% off, %%(ENV_HOME)s\""),
            "{text}"
        );
        assert!(
            text.contains(r"command=node 'it'\''s here' --rate=5%%"),
            "{text}"
        );
        assert!(text.contains("stopwaitsecs=2\n"), "rounded up: {text}");
    }

    #[test]
    fn supervisord_keeps_everything_under_its_state_directory() {
        let text = render_supervisord(&Layout::new(Path::new("/run/poseidon/sv")));
        assert!(text.contains("file=/run/poseidon/sv/supervisor.sock\n"));
        assert!(text.contains("serverurl=unix:///run/poseidon/sv/supervisor.sock\n"));
        assert!(text.contains("pidfile=/run/poseidon/sv/supervisord.pid\n"));
        assert!(text.contains("files = /run/poseidon/sv/programs/*.conf\n"));
        assert!(text.contains("chmod=0700\n"));
    }
}
