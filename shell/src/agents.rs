//! What the panel knows about agents: read from agentfs (`/agent/live/`), never invented.
//!
//! Job: turn the directory `<root>/live/` (symlinks `a:NNNNN -> ../a:NNNNN`, docs/formats/agentfs.md) into a count of live agents and the list of those
//! that need attention (Cap-denied or Quarantined, read from each agent's `status` file, whose
//! words are coconut-abi's [`State::word`]). When agentfs is absent — the kernel work is not
//! there yet, or this is a development machine — the answer says so, and the panel prints it.
//!
//! Constraints: a read is one `read_dir` plus one small file per agent; an unreadable or
//! unknown status is counted and reported, not skipped silently. The panel re-reads on its
//! once-a-second tick and redraws only when the text changes (inotify is the next step, see
//! docs/shell.md).

use std::io;
use std::path::{Path, PathBuf};

use coconut_abi::State;

/// The default agentfs mount point.
pub const DEFAULT_ROOT: &str = "/agent";

/// The agents one read of agentfs found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentView {
    /// `<root>` does not exist: the Coconut kernel (agentfs) is not there.
    Missing {
        /// The root that was looked for.
        root: PathBuf,
    },
    /// `<root>` exists but `<root>/live` could not be listed.
    Unreadable {
        /// The directory that failed.
        path: PathBuf,
        /// The error, as the OS reported it.
        error: String,
    },
    /// The live agents.
    Live {
        /// How many entries `<root>/live` has.
        count: usize,
        /// Agents in a state that needs attention, sorted by AID.
        alerts: Vec<(String, State)>,
        /// Agents whose `status` could not be read or holds an unknown word.
        unreadable: usize,
    },
}

impl AgentView {
    /// Reads `<root>/live/`.
    pub fn read(root: &Path) -> AgentView {
        if !root.exists() {
            return AgentView::Missing {
                root: root.to_path_buf(),
            };
        }
        let live = root.join("live");
        let entries = match std::fs::read_dir(&live) {
            Ok(e) => e,
            Err(e) => {
                return AgentView::Unreadable {
                    path: live,
                    error: e.to_string(),
                }
            }
        };
        let mut count = 0;
        let mut alerts = Vec::new();
        let mut unreadable = 0;
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(_) => {
                    unreadable += 1;
                    continue;
                }
            };
            count += 1;
            match read_status(&entry.path().join("status")) {
                Ok(Some(state)) => {
                    if matches!(state, State::CapDenied | State::Quarantined) {
                        alerts.push((entry.file_name().to_string_lossy().into_owned(), state));
                    }
                }
                Ok(None) | Err(_) => unreadable += 1,
            }
        }
        alerts.sort();
        AgentView::Live {
            count,
            alerts,
            unreadable,
        }
    }

    /// The panel's agent text, e.g. `agents: 3` or `agents: kernel not ready (/agent missing)`.
    pub fn summary(&self) -> String {
        match self {
            AgentView::Missing { root } => {
                format!("agents: kernel not ready ({} missing)", root.display())
            }
            AgentView::Unreadable { path, error } => {
                format!("agents: cannot read {}: {error}", path.display())
            }
            AgentView::Live {
                count, unreadable, ..
            } => {
                if *unreadable > 0 {
                    format!("agents: {count} ({unreadable} status unreadable)")
                } else {
                    format!("agents: {count}")
                }
            }
        }
    }

    /// The alert marker's text, or `None` when no agent needs attention.
    pub fn alert(&self) -> Option<String> {
        let AgentView::Live { alerts, .. } = self else {
            return None;
        };
        if alerts.is_empty() {
            return None;
        }
        let denied = alerts
            .iter()
            .filter(|(_, s)| *s == State::CapDenied)
            .count();
        let quarantined = alerts.len() - denied;
        let mut parts = Vec::new();
        if denied > 0 {
            parts.push(format!("{denied} {}", State::CapDenied.title()));
        }
        if quarantined > 0 {
            parts.push(format!("{quarantined} {}", State::Quarantined.title()));
        }
        Some(format!("! {}", parts.join(", ")))
    }
}

/// The state in a `status` file: its first line, trimmed, as a status word.
fn read_status(path: &Path) -> io::Result<Option<State>> {
    let text = std::fs::read_to_string(path)?;
    let word = text.lines().next().unwrap_or("").trim();
    Ok(State::from_word(word.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent as agentfs(5) lays it out: `<root>/a:NNNNN/status`, and the symlink
    /// `<root>/live/a:NNNNN -> ../a:NNNNN`.
    fn agent(root: &Path, aid: &str, status: &str) {
        let dir = root.join(aid);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("status"), status).unwrap();
        std::fs::create_dir_all(root.join("live")).unwrap();
        std::os::unix::fs::symlink(format!("../{aid}"), root.join("live").join(aid)).unwrap();
    }

    #[test]
    fn missing_root_says_the_kernel_is_not_ready() {
        let dir = tempfile::tempdir().unwrap();
        let view = AgentView::read(&dir.path().join("agent"));
        assert!(matches!(view, AgentView::Missing { .. }));
        assert!(view.summary().starts_with("agents: kernel not ready ("));
        assert!(view.summary().ends_with("agent missing)"));
        assert_eq!(view.alert(), None);
    }

    #[test]
    fn root_without_live_is_unreadable_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let view = AgentView::read(dir.path());
        assert!(matches!(view, AgentView::Unreadable { .. }), "{view:?}");
        assert!(view.summary().contains("/live"));
    }

    #[test]
    fn counts_and_alerts_come_from_status_files() {
        let dir = tempfile::tempdir().unwrap();
        agent(
            dir.path(),
            "a:00001",
            "ACTIVE\nsince_ns=1\nparent=a:00000\n",
        );
        agent(dir.path(), "a:00017", "CAP_DENIED\n");
        agent(dir.path(), "a:00020", "QUARANTINED");
        agent(dir.path(), "a:00021", "QUARANTINED\n");
        agent(dir.path(), "a:00030", "bogus\n");
        let view = AgentView::read(dir.path());
        assert_eq!(
            view,
            AgentView::Live {
                count: 5,
                alerts: vec![
                    ("a:00017".into(), State::CapDenied),
                    ("a:00020".into(), State::Quarantined),
                    ("a:00021".into(), State::Quarantined),
                ],
                unreadable: 1,
            }
        );
        assert_eq!(view.summary(), "agents: 5 (1 status unreadable)");
        assert_eq!(
            view.alert().as_deref(),
            Some("! 1 Cap-denied, 2 Quarantined")
        );
    }

    #[test]
    fn empty_live_directory_is_zero_agents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("live")).unwrap();
        let view = AgentView::read(dir.path());
        assert_eq!(view.summary(), "agents: 0");
        assert_eq!(view.alert(), None);
    }
}
