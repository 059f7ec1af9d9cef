//! A file's own checker run on new content before it is used (`amtool check-config %s`,
//! `nginx -t -c %s`): the content is staged, with the destination's file name, in a private
//! directory of its own (0700, the file 0600: it may hold a receiver's password), the
//! command runs with `%s` replaced by that path and a deadline, and nothing live is touched
//! whatever it answers. What `validate` of Ansible's `template` and `copy` does, without a
//! shell: the command is an argument vector.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process::{Ran, run_bounded};

/// What stands for the staged file in a validator's arguments.
pub const PLACEHOLDER: &str = "%s";

/// A checker command, validated: a program and arguments, at least one of them `%s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    argv: Vec<String>,
    timeout: Duration,
}

/// Why content was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("{program} refused the new content (nothing was written):\n{output}")]
    Refused { program: String, output: String },
    #[error("{program} did not finish within {timeout:?} (killed; nothing was written)")]
    TimedOut { program: String, timeout: Duration },
    #[error("could not run {program}: {source}")]
    NotRun {
        program: String,
        source: std::io::Error,
    },
    #[error("staging the new content for {program}: {source}")]
    Staging {
        program: String,
        source: std::io::Error,
    },
}

impl Validator {
    /// `argv[0]` is the program (by path or name); `%s` marks where the staged file goes.
    pub fn new(argv: Vec<String>, timeout: Duration) -> Result<Validator, String> {
        match argv.first() {
            None => return Err("must name a program: [amtool, check-config, '%s']".into()),
            Some(program) if program.trim().is_empty() => {
                return Err("its first item, the program, is empty".into());
            }
            Some(_) => {}
        }
        if !argv.iter().skip(1).any(|arg| arg.contains(PLACEHOLDER)) {
            return Err(format!(
                "no argument holds {PLACEHOLDER}, the path of the file to check: [{}, '{PLACEHOLDER}']",
                argv.join(", ")
            ));
        }
        if timeout.is_zero() {
            return Err("the timeout must be at least one second".into());
        }
        Ok(Validator { argv, timeout })
    }

    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// Stages `content` as `<private dir>/<file_name>` and runs the checker on it.
    pub fn check(&self, content: &str, file_name: &str) -> Result<(), Invalid> {
        let program = self.program().to_owned();
        let staging_error = |source| Invalid::Staging {
            program: program.clone(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix("poseidon-validate-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(staging_error)?;
        let staged = dir.path().join(file_name);
        crate::files::write_atomic(&staged, content.as_bytes(), 0o600).map_err(staging_error)?;
        let ran = run_bounded(&mut self.command(&staged), self.timeout).map_err(|source| {
            Invalid::NotRun {
                program: program.clone(),
                source,
            }
        })?;
        match ran {
            Ran::Finished(done) if done.status.success() => Ok(()),
            // The staging directory means nothing to the reader: the file's own name does.
            Ran::Finished(done) => Err(Invalid::Refused {
                output: done
                    .output
                    .trim()
                    .replace(&staged.display().to_string(), file_name),
                program,
            }),
            Ran::TimedOut { .. } => Err(Invalid::TimedOut {
                program,
                timeout: self.timeout,
            }),
        }
    }

    fn command(&self, staged: &Path) -> Command {
        let path = staged.display().to_string();
        let mut command = Command::new(&self.argv[0]);
        command.args(
            self.argv[1..]
                .iter()
                .map(|arg| arg.replace(PLACEHOLDER, &path)),
        );
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(argv: &[&str]) -> Result<Validator, String> {
        Validator::new(
            argv.iter().map(|a| (*a).to_owned()).collect(),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn a_validator_needs_a_program_and_the_placeholder() {
        assert!(validator(&[]).is_err());
        assert!(validator(&["", "%s"]).is_err());
        let err = validator(&["amtool", "check-config"]).unwrap_err();
        assert!(err.contains("%s"), "{err}");
        assert!(validator(&["%s"]).is_err(), "the program is not the file");
        assert!(validator(&["nginx", "-t", "-c", "%s"]).is_ok());
        assert!(validator(&["tool", "--config=%s"]).is_ok());
    }

    #[test]
    fn the_checker_sees_the_content_under_the_file_name_and_its_refusal_is_reported() {
        // grep -q exits 1 when the line is missing: a stand-in for a real checker.
        let check = validator(&["grep", "-q", "^ok$", "%s"]).unwrap();
        check.check("ok\n", "alertmanager.yml").unwrap();
        let err = check.check("not ok\n", "alertmanager.yml").unwrap_err();
        assert!(matches!(err, Invalid::Refused { .. }), "{err}");

        let name = validator(&["sh", "-c", "echo \"$1\" >&2; exit 1", "sh", "%s"]).unwrap();
        let Invalid::Refused { output, program } = name.check("", "alertmanager.yml").unwrap_err()
        else {
            panic!("refused");
        };
        assert_eq!(program, "sh");
        assert_eq!(
            output, "alertmanager.yml",
            "the staged path is named by its file name"
        );
    }

    #[test]
    fn the_staged_file_is_private_and_removed() {
        let out = tempfile::tempdir().unwrap();
        let seen = out.path().join("seen");
        let check = validator(&[
            "sh",
            "-c",
            "test \"$(stat -c %a \"$1\")\" = 600 && test \"$(stat -c %a \"$(dirname \"$1\")\")\" = 700 && echo \"$1\" > \"$2\"",
            "sh",
            "%s",
            seen.to_str().unwrap(),
        ])
        .unwrap();
        check.check("secret: x\n", "a.yml").unwrap();
        let staged = std::fs::read_to_string(&seen).unwrap();
        assert!(staged.trim().ends_with("/a.yml"), "{staged}");
        assert!(
            !Path::new(staged.trim()).exists(),
            "the staged copy is removed"
        );
    }

    #[test]
    fn a_missing_program_and_a_slow_one_fail() {
        let missing = validator(&["/nonexistent/amtool", "%s"]).unwrap();
        assert!(matches!(
            missing.check("", "a").unwrap_err(),
            Invalid::NotRun { .. }
        ));
        let slow = Validator::new(
            vec!["sh".into(), "-c".into(), "sleep 5".into(), "%s".into()],
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(matches!(
            slow.check("", "a").unwrap_err(),
            Invalid::TimedOut { .. }
        ));
    }
}
