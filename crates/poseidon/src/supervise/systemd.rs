//! Where systemd runs: one template unit per application, `<app>@.service`, whose
//! instance name is the port (`checkbox@3001.service`), and a drop-in per instance for
//! what differs between instances during a rollout (the release id). Rendered only:
//! nothing here runs systemctl (see docs/supervise.md).

use std::fmt::Write as _;

use super::spec::Instance;

/// `<app>@.service`, from any one instance of the application: what all instances
/// share (`%i`, the port, stands for what does not).
pub fn template_unit(instance: &Instance) -> String {
    let app = instance.app();
    let root = escape(&instance.root().to_string_lossy());
    let log = escape(&instance.log_dir().to_string_lossy());
    // A program in the release (`./<path>`) runs through the instance's pointer, as in
    // supervisor; here the port is the template's `%i`.
    let exec = instance
        .argv()
        .iter()
        .enumerate()
        .map(|(n, arg)| match arg.strip_prefix("./") {
            Some(relative) if n == 0 => format!(
                "\"{root}/instances/%i/current/{}\"",
                escape(relative).replace('$', "$$")
            ),
            _ => format!("\"{}\"", escape(arg).replace('$', "$$")),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut unit = format!(
        "# Written by Poseidon: the instances of {app}, one per port (%i).\n\
         [Unit]\n\
         Description={app} on port %i\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         WorkingDirectory={root}/instances/%i/current\n\
         ExecStart={exec}\n\
         Environment=\"PORT=%i\"\n"
    );
    for (name, value) in instance.given_environment() {
        let _ = writeln!(unit, "Environment=\"{name}={}\"", escape(value));
    }
    if let Some(user) = instance.user() {
        let _ = writeln!(unit, "User={user}");
    }
    let _ = write!(
        unit,
        "Restart=on-failure\n\
         RestartSec=1\n\
         KillSignal=SIG{signal}\n\
         KillMode=control-group\n\
         TimeoutStopSec={wait}\n\
         StandardOutput=append:{log}/{app}-%i.log\n\
         StandardError=inherit\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        signal = instance.stop_signal().name(),
        wait = instance.stop_wait().as_millis().div_ceil(1000),
    );
    unit
}

/// Where [`release_dropin`] goes, relative to the unit directory.
pub fn release_dropin_path(instance: &Instance) -> String {
    format!(
        "{}@{}.service.d/release.conf",
        instance.app(),
        instance.port()
    )
}

/// The release one instance runs: a drop-in, so that a rollout changes one instance's
/// release without touching the template the others run from.
pub fn release_dropin(instance: &Instance) -> String {
    format!(
        "# Written by Poseidon: the release of {name}.\n[Service]\nEnvironment=\"RELEASE_ID={id}\"\n",
        name = instance.name(),
        id = escape(instance.release_id()),
    )
}

/// A value inside a double-quoted unit-file word: backslash and quote escaped, and `%`
/// doubled (systemd expands specifiers such as `%i` and `%h` in these settings).
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervise::spec::tests::config;

    #[test]
    fn the_template_unit_runs_each_port_in_its_current_release() {
        let unit = template_unit(&Instance::new(config()).unwrap());
        assert_eq!(
            unit,
            "# Written by Poseidon: the instances of checkbox, one per port (%i).\n\
             [Unit]\n\
             Description=checkbox on port %i\n\
             After=network-online.target\n\
             Wants=network-online.target\n\
             \n\
             [Service]\n\
             Type=simple\n\
             WorkingDirectory=/srv/checkbox/instances/%i/current\n\
             ExecStart=\"node\" \"bin/checkbox.js\"\n\
             Environment=\"PORT=%i\"\n\
             Environment=\"NODE_ENV=production\"\n\
             User=checkbox\n\
             Restart=on-failure\n\
             RestartSec=1\n\
             KillSignal=SIGTERM\n\
             KillMode=control-group\n\
             TimeoutStopSec=10\n\
             StandardOutput=append:/var/log/checkbox/checkbox-%i.log\n\
             StandardError=inherit\n\
             \n\
             [Install]\n\
             WantedBy=multi-user.target\n"
        );
    }

    #[test]
    fn values_are_escaped_the_systemd_way() {
        let mut config = config();
        config
            .environment
            .insert("GREETING".into(), r"50% off, C:\x and $HOME".into());
        config.argv = vec!["node".into(), "$HOME/%i".into()];
        let instance = Instance::new(config).unwrap();
        let unit = template_unit(&instance);
        assert!(
            unit.contains("Environment=\"GREETING=50%% off, C:\\\\x and $HOME\"\n"),
            "{unit}"
        );
        assert!(
            unit.contains("ExecStart=\"node\" \"$$HOME/%%i\"\n"),
            "{unit}"
        );
        assert_eq!(
            release_dropin(&instance),
            "# Written by Poseidon: the release of checkbox-3001.\n[Service]\nEnvironment=\"RELEASE_ID=1.4.0-abc123\"\n"
        );
        assert_eq!(
            release_dropin_path(&instance),
            "checkbox@3001.service.d/release.conf"
        );
    }
}
