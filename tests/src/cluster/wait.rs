//! Waiting for the cluster to reach a state, with a deadline and a message that says what
//! was awaited and what was last seen.

use std::future::Future;
use std::time::Duration;

/// How long the scenarios wait for the controllers by default: several scheduling passes,
/// Job controller syncs and simulated-kubelet steps on a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// What a probe saw: the awaited value, or a description of the state that is not it yet.
pub type Seen<T> = Result<T, String>;

/// Polls `probe` every 250 ms until it returns `Ok(Ok(value))`, for at most `within`.
/// `Ok(Err(seen))` means not yet (the last `seen` is in the timeout's message); `Err` is fatal.
pub async fn until<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Seen<T>>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = match probe().await? {
            Ok(value) => return Ok(value),
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {within:?} waiting for {what}; last seen: {seen}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
