//! uWSGI's hooks (`hook-pre-app`, `hook-master-start`, `hook-post-fork`): actions run at fixed
//! points of a server's life, as uWSGI runs them.
//!
//! An action is `name:argument`. The actions ruwsgi runs:
//! - `exec:COMMAND` runs `/bin/sh -c COMMAND` and waits for it;
//! - `print:TEXT` / `log:TEXT` writes the text to the log;
//! - `mkdir:PATH` creates a directory; `unlink:PATH` removes a file; `chdir:PATH` changes the
//!   current directory.
//!
//! Any other action is skipped with a warning (the configuration loader already warned about
//! it when it was read). `pre-app` is fatal, as in uWSGI: a failing action stops the server
//! with status 1. `master-start` and `post-fork` failures are logged and the server goes on.
//! `exec-as-root` commands run right before privileges drop, as root only, and are fatal.

use std::process::Command;

use crate::error::{Error, ErrorKind};

/// The hooks of one server, each a list of `action:argument` strings in configuration order.
/// The serde names are the uWSGI options.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Hooks {
    /// `hook-pre-app`: before the app is loaded (in the master under preload, in each worker
    /// under `lazy-apps`). Fatal.
    #[serde(rename = "hook-pre-app")]
    pub pre_app: Vec<String>,
    /// `hook-master-start`: when the master starts, before it forks the workers.
    #[serde(rename = "hook-master-start")]
    pub master_start: Vec<String>,
    /// `hook-post-fork`: in each new worker, right after the fork.
    #[serde(rename = "hook-post-fork")]
    pub post_fork: Vec<String>,
    /// `exec-as-root`: shell commands run before privileges drop, when the server starts
    /// as root (skipped otherwise, as uWSGI skips them). Fatal, as in uWSGI.
    #[serde(rename = "exec-as-root")]
    pub exec_as_root: Vec<String>,
}

/// Runs the `exec-as-root` commands (see [`Hooks::exec_as_root`]).
pub(crate) fn run_as_root(commands: &[String]) -> Result<(), Error> {
    if commands.is_empty() {
        return Ok(());
    }
    if !nix::unistd::getuid().is_root() {
        log::info!("exec-as-root: not running as root; its commands are skipped");
        return Ok(());
    }
    let actions: Vec<String> = commands.iter().map(|c| format!("exec:{c}")).collect();
    run("as-root", &actions, true)
}

/// Runs the actions of `phase` in order. With `fatal`, the first failure is returned;
/// otherwise failures are logged and the rest still run.
pub(crate) fn run(phase: &str, actions: &[String], fatal: bool) -> Result<(), Error> {
    for action in actions {
        log::info!("running {phase} hook {action:?}");
        if let Err(why) = run_action(action) {
            let msg = format!("{phase} hook {action:?} failed: {why}");
            if fatal {
                return Err(Error::new(ErrorKind::Config(msg)));
            }
            log::error!("{msg}");
        }
    }
    Ok(())
}

fn run_action(action: &str) -> Result<(), String> {
    let (name, arg) = action.split_once(':').unwrap_or((action, ""));
    match name {
        "exec" => {
            let status = Command::new("/bin/sh")
                .arg("-c")
                .arg(arg)
                .status()
                .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("the command ended with {status}"))
            }
        }
        "print" | "log" => {
            log::info!("{arg}");
            Ok(())
        }
        "mkdir" => std::fs::create_dir(arg).map_err(|e| e.to_string()),
        "unlink" => std::fs::remove_file(arg).map_err(|e| e.to_string()),
        "chdir" => std::env::set_current_dir(arg).map_err(|e| e.to_string()),
        _ => {
            log::warn!("skipping hook {action:?}: ruwsgi does not run {name:?} actions");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_runs_the_command_and_reports_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("mark");
        let ok = format!("exec:echo hi > {}", mark.display());
        run("pre-app", &[ok], true).unwrap();
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "hi\n");
        let err = run("pre-app", &["exec:exit 3".to_string()], true).unwrap_err();
        assert!(err.to_string().contains("exit status: 3"), "{err}");
        // Not fatal: logged, and the next action still runs.
        let again = format!("exec:echo again > {}", mark.display());
        run("post-fork", &["exec:false".to_string(), again], false).unwrap();
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "again\n");
    }

    #[test]
    fn unknown_actions_are_skipped() {
        run("pre-app", &["callret:foo".to_string()], true).unwrap();
    }
}
