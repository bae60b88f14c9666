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
//! it when it was read). The phases, in a server's order, and whether a failure stops it
//! (status 1) as in uWSGI:
//!
//! - `asap`: first, before anything is created (fatal);
//! - `as-root`: right before privileges drop, only when started as root (fatal);
//! - `as-user`: right after privileges drop (fatal);
//! - `pre-app` and `post-app`: around loading the app, in the master under preload, in
//!   each worker under `lazy-apps` (fatal);
//! - `master-start`: when the master starts (logged, not fatal);
//! - `post-fork`: in each new worker, right after the fork (logged, not fatal);
//! - `accepting`: in each worker about to accept; `accepting1` in worker 1 only; their
//!   `-once` forms only at the first spawn of that worker id by this master image (fatal
//!   to the worker, which the master respawns).
//!
//! Each `exec-PHASE = COMMAND` option runs after the phase's `hook-PHASE` actions, as
//! `exec:COMMAND` (uWSGI runs them in that order too).

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
    /// `hook-asap`: first of all.
    #[serde(rename = "hook-asap")]
    pub asap: Vec<String>,
    /// `exec-asap`: commands run then.
    #[serde(rename = "exec-asap")]
    pub exec_asap: Vec<String>,
    /// `hook-as-root`: before privileges drop, as root only.
    #[serde(rename = "hook-as-root")]
    pub as_root: Vec<String>,
    /// `hook-as-user`: after privileges drop.
    #[serde(rename = "hook-as-user")]
    pub as_user: Vec<String>,
    /// `exec-as-user`: commands run then.
    #[serde(rename = "exec-as-user")]
    pub exec_as_user: Vec<String>,
    /// `exec-pre-app`: commands run before the app loads.
    #[serde(rename = "exec-pre-app")]
    pub exec_pre_app: Vec<String>,
    /// `hook-post-app`: after the app loaded.
    #[serde(rename = "hook-post-app")]
    pub post_app: Vec<String>,
    /// `exec-post-app`: commands run then.
    #[serde(rename = "exec-post-app")]
    pub exec_post_app: Vec<String>,
    /// `hook-accepting`: in each worker about to accept.
    #[serde(rename = "hook-accepting")]
    pub accepting: Vec<String>,
    /// `hook-accepting1`: in worker 1 about to accept.
    #[serde(rename = "hook-accepting1")]
    pub accepting1: Vec<String>,
    /// `hook-accepting-once`: as `hook-accepting`, at each worker id's first spawn.
    #[serde(rename = "hook-accepting-once")]
    pub accepting_once: Vec<String>,
    /// `hook-accepting1-once`: as `hook-accepting1`, at worker 1's first spawn.
    #[serde(rename = "hook-accepting1-once")]
    pub accepting1_once: Vec<String>,
}

impl Hooks {
    /// The `asap` actions: `hook-asap`, then `exec-asap` as `exec:` actions.
    pub(crate) fn asap(&self) -> Vec<String> {
        with_execs(&self.asap, &self.exec_asap)
    }

    /// The `as-user` actions.
    pub(crate) fn as_user(&self) -> Vec<String> {
        with_execs(&self.as_user, &self.exec_as_user)
    }

    /// The `pre-app` actions.
    pub(crate) fn pre_app(&self) -> Vec<String> {
        with_execs(&self.pre_app, &self.exec_pre_app)
    }

    /// The `post-app` actions.
    pub(crate) fn post_app(&self) -> Vec<String> {
        with_execs(&self.post_app, &self.exec_post_app)
    }

    /// The `accepting` actions of worker `id`, spawned for the first time by this image
    /// when `first`.
    pub(crate) fn accepting(&self, id: usize, first: bool) -> Vec<String> {
        let mut out = self.accepting.clone();
        if first {
            out.extend(self.accepting_once.iter().cloned());
        }
        if id == 1 {
            out.extend(self.accepting1.iter().cloned());
            if first {
                out.extend(self.accepting1_once.iter().cloned());
            }
        }
        out
    }
}

/// A phase's `hook-` actions, then its `exec-` commands as `exec:` actions.
fn with_execs(actions: &[String], commands: &[String]) -> Vec<String> {
    let execs = commands.iter().map(|c| format!("exec:{c}"));
    actions.iter().cloned().chain(execs).collect()
}

/// Runs the `hook-as-root` actions and `exec-as-root` commands, when started as root (both
/// are skipped otherwise, as uWSGI skips them).
pub(crate) fn run_root_hooks(hooks: &Hooks) -> Result<(), Error> {
    let actions = with_execs(&hooks.as_root, &hooks.exec_as_root);
    if actions.is_empty() {
        return Ok(());
    }
    if !nix::unistd::getuid().is_root() {
        log::info!("hook-as-root, exec-as-root: not running as root; they are skipped");
        return Ok(());
    }
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
