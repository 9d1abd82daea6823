//! Child processes of the test control plane: each writes to its own log file and is killed
//! when dropped, so that every process stops and every port is freed when the run ends, pass
//! or fail. Their pids are also listed in a file, so that a run killed before it could clean
//! up is cleaned up by the next one ([`reap_stale`]).

use anyhow::Context;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running child process.
#[derive(Debug)]
pub struct Process {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

/// The file in a run's work directory that lists its children's pids.
const PIDS: &str = "pids";

impl Process {
    /// Starts `program` with `args` and `env`, output to `work/name.log`.
    pub fn spawn(
        work: &Path,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
    ) -> anyhow::Result<Process> {
        let log = work.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        let mut pids = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(work.join(PIDS))?;
        std::io::Write::write_all(&mut pids, format!("{}\n", child.id()).as_bytes())?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a `kill` signal name: TERM, KILL, STOP, CONT).
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .context("running kill")?;
        anyhow::ensure!(
            status.success(),
            "kill -{signal} {} failed",
            self.child.id()
        );
        Ok(())
    }

    /// Kills it and waits for it to go.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last `lines` lines of its log.
    pub fn tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of the file at `path` (empty when unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A loopback port nobody listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts connections on `127.0.0.1:port`.
pub async fn wait_for_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The directory under which each run makes its work directory.
pub fn runs_root() -> PathBuf {
    std::env::temp_dir().join("kbatch-cluster-tests")
}

/// Kills the children of earlier runs whose test process is gone (a run killed with
/// SIGKILL cannot clean up after itself), and removes their work directories.
pub fn reap_stale() {
    let Ok(entries) = std::fs::read_dir(runs_root()) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let owner = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('-').next_back())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(owner) = owner else { continue };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        if let Ok(pids) = std::fs::read_to_string(dir.join(PIDS)) {
            // Only our own programs: a pid may have been reused since.
            for pid in pids.lines().filter(|p| !p.is_empty()) {
                let program = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
                let ours = program
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == "etcd" || n.starts_with("kube-") || n == "kbatch");
                if ours {
                    let _ = Command::new("kill").arg("-KILL").arg(pid).status();
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
