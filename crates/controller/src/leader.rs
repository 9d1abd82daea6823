//! Leader election over a `coordination.k8s.io/v1` Lease, so that two replicas never
//! reconcile at once: client-go's scheme, with its timings (15 s lease, 10 s renew deadline,
//! 2 s retry period).
//!
//! - The Lease names its holder and when it last renewed. A replica takes it when it has no
//!   holder, or when the holder's record has not changed for `leaseDurationSeconds` **as this
//!   replica observed it** (its own monotonic clock, [`RecordAge`]): clocks of different nodes
//!   are never compared.
//! - Every write is conditional on `resourceVersion` (create, or replace), so two replicas
//!   cannot both succeed; every call has a timeout.
//! - The leader renews every [`LeaseConfig::retry_period`]. It stops acting once no renewal
//!   has succeeded for [`LeaseConfig::renew_deadline`], counted from when the last successful
//!   renewal was *sent*: others can take the lease only `duration` after they saw that renewal
//!   land, so the leader has stopped `duration − renew_deadline` before anyone else starts.
//! - On SIGTERM the leader gives the lease up ([`release`]) so that a follower takes over at
//!   once instead of after `duration`.
//!
//! [`claim`] is the pure decision. kube-lease-manager (0.13, the kube 5 one) judges expiry by
//! comparing the Lease's `renewTime` with the local wall clock, sends its calls without a
//! timeout and keeps reporting leadership while a renewal hangs, which is what this avoids.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use std::fmt;
use std::time::Duration;
use tokio::time::{Instant, timeout};

/// Where the Lease is, who we are, and the timings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// Its namespace (the pod's).
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a holder keeps the lease without renewing it, as others observe it.
    pub duration: Duration,
    /// How long the leader goes on without a successful renewal before it stops acting;
    /// shorter than `duration` by the time it may take to stop.
    pub renew_deadline: Duration,
    /// How often the leader renews, and a follower looks.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// `kbatch-controller` in `POD_NAMESPACE` (else the service account's namespace, else
    /// the client's default), held as `POD_NAME` (else the host name).
    pub fn from_env(client: &Client) -> LeaseConfig {
        let namespace = std::env::var("POD_NAMESPACE")
            .ok()
            .or_else(|| {
                std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                    .ok()
                    .map(|s| s.trim().to_owned())
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| format!("kbatch-controller-{}", std::process::id()));
        LeaseConfig {
            name: "kbatch-controller".to_owned(),
            namespace,
            identity,
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Why the leader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseLost {
    /// Another replica holds the lease.
    TakenBy(String),
    /// No renewal succeeded within the renew deadline.
    NotRenewed {
        /// The deadline.
        within: Duration,
        /// The last failure, if a call failed (rather than timed out).
        last_error: Option<String>,
    },
}

impl fmt::Display for LeaseLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseLost::TakenBy(holder) => write!(f, "{holder} took the leader lease"),
            LeaseLost::NotRenewed { within, last_error } => {
                write!(f, "could not renew the leader lease within {within:?}")?;
                match last_error {
                    Some(e) => write!(f, " (last error: {e})"),
                    None => f.write_str(" (the API server did not answer in time)"),
                }
            }
        }
    }
}

impl std::error::Error for LeaseLost {}

/// What [`claim`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Write this spec (create when there is no Lease, else replace conditionally).
    Take(LeaseSpec),
    /// Someone else holds it.
    HeldBy(String),
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// Whether `identity` may take (or renew) `current` at `now`, and the spec to write.
/// `unchanged_for` is how long this replica has seen the Lease's record unchanged
/// ([`RecordAge::unchanged_for`]): another holder's lease is free once that exceeds its
/// `leaseDurationSeconds`. `now` is only written, never compared.
pub fn claim(
    current: Option<&LeaseSpec>,
    config: &LeaseConfig,
    now: Timestamp,
    unchanged_for: Duration,
) -> Claim {
    let me = config.identity.as_str();
    let holder = current.and_then(|s| s.holder_identity.as_deref());
    let lasts = current
        .and_then(|s| s.lease_duration_seconds)
        .unwrap_or(seconds(config.duration));
    let expired = unchanged_for > Duration::from_secs(u64::try_from(lasts).unwrap_or(0));
    match holder {
        Some(h) if h != me && !h.is_empty() && !expired => Claim::HeldBy(h.to_owned()),
        _ => {
            let ours = holder == Some(me);
            let transitions = current.and_then(|s| s.lease_transitions).unwrap_or(0);
            Claim::Take(LeaseSpec {
                holder_identity: Some(me.to_owned()),
                lease_duration_seconds: Some(seconds(config.duration)),
                acquire_time: if ours {
                    current.and_then(|s| s.acquire_time.clone())
                } else {
                    Some(MicroTime(now))
                },
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(if ours || current.is_none() {
                    transitions
                } else {
                    transitions.saturating_add(1)
                }),
                ..LeaseSpec::default()
            })
        }
    }
}

/// When this replica first saw the Lease's current record (its `resourceVersion`), on its own
/// monotonic clock.
#[derive(Debug, Default)]
pub struct RecordAge {
    record: Option<(String, Instant)>,
}

impl RecordAge {
    /// Notes the record `lease` shows at `now`; returns how long it has been unchanged.
    pub fn unchanged_for(&mut self, lease: Option<&Lease>, now: Instant) -> Duration {
        let version = lease
            .and_then(|l| l.metadata.resource_version.clone())
            .unwrap_or_default();
        match &self.record {
            Some((seen, since)) if *seen == version => now.saturating_duration_since(*since),
            _ => {
                self.record = Some((version, now));
                Duration::ZERO
            }
        }
    }
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// This replica holds the lease, as written.
    Holds(Box<Lease>),
    /// Another replica holds it.
    HeldBy(String),
    /// The conditional write lost a race (or our own earlier write landed late): ask again.
    Conflict,
}

/// One attempt at `now`: takes or renews the lease. Each of its calls is bounded by the
/// caller's timeout.
pub async fn try_acquire_at(
    api: &Api<Lease>,
    config: &LeaseConfig,
    age: &mut RecordAge,
    now: Timestamp,
) -> Result<Attempt, kube::Error> {
    let current = api.get_opt(&config.name).await?;
    let unchanged_for = age.unchanged_for(current.as_ref(), Instant::now());
    match claim(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        config,
        now,
        unchanged_for,
    ) {
        Claim::HeldBy(holder) => Ok(Attempt::HeldBy(holder)),
        Claim::Take(spec) => {
            let result = match current {
                None => {
                    let lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(config.name.clone()),
                            namespace: Some(config.namespace.clone()),
                            ..ObjectMeta::default()
                        },
                        spec: Some(spec),
                    };
                    api.create(&PostParams::default(), &lease).await
                }
                Some(mut lease) => {
                    // Keeps metadata.resourceVersion: the replace is conditional.
                    lease.spec = Some(spec);
                    api.replace(&config.name, &PostParams::default(), &lease)
                        .await
                }
            };
            match result {
                Ok(lease) => Ok(Attempt::Holds(Box::new(lease))),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Conflict),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits until this replica holds the lease; returns when the successful write was sent,
/// from which [`hold`] counts its renew deadline.
pub async fn acquire(api: &Api<Lease>, config: &LeaseConfig) -> Instant {
    let mut age = RecordAge::default();
    loop {
        let sent = Instant::now();
        let attempt = timeout(
            config.retry_period.max(Duration::from_secs(1)),
            try_acquire_at(api, config, &mut age, Timestamp::now()),
        )
        .await;
        match attempt {
            Ok(Ok(Attempt::Holds(_))) => {
                tracing::info!(identity = %config.identity, "acquired the leader lease");
                return sent;
            }
            Ok(Ok(Attempt::HeldBy(holder))) => {
                tracing::debug!(%holder, "lease held by another replica");
            }
            Ok(Ok(Attempt::Conflict)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "leader election failed; retrying"),
            Err(_) => tracing::warn!("leader election timed out; retrying"),
        }
        tokio::time::sleep(config.retry_period).await;
    }
}

/// Renews the lease until it is lost; `renewed` is when the last successful write was sent.
/// Returns at the latest `renew_deadline` after the last successful renewal was sent.
pub async fn hold(api: &Api<Lease>, config: &LeaseConfig, mut renewed: Instant) -> LeaseLost {
    let mut age = RecordAge::default();
    let mut last_error = None;
    loop {
        let left = config.renew_deadline.saturating_sub(renewed.elapsed());
        if left.is_zero() {
            return LeaseLost::NotRenewed {
                within: config.renew_deadline,
                last_error,
            };
        }
        tokio::time::sleep(config.retry_period.min(left)).await;
        let left = config.renew_deadline.saturating_sub(renewed.elapsed());
        if left.is_zero() {
            continue;
        }
        let sent = Instant::now();
        match timeout(
            left,
            try_acquire_at(api, config, &mut age, Timestamp::now()),
        )
        .await
        {
            Ok(Ok(Attempt::Holds(_))) => {
                renewed = sent;
                last_error = None;
            }
            Ok(Ok(Attempt::HeldBy(holder))) => return LeaseLost::TakenBy(holder),
            Ok(Ok(Attempt::Conflict)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "renewing the leader lease failed");
                last_error = Some(error.to_string());
            }
            Err(_) => tracing::warn!("renewing the leader lease timed out"),
        }
    }
}

/// Gives the lease up if this replica holds it, so that a follower takes it at once: the
/// holder is cleared with a conditional write. Bounded by `retry_period`; a failure only
/// means followers wait for the lease to expire.
pub async fn release(api: &Api<Lease>, config: &LeaseConfig) {
    release_at(api, config, Timestamp::now()).await;
}

/// [`release`] at `now` (a fixed clock in tests).
pub async fn release_at(api: &Api<Lease>, config: &LeaseConfig, now: Timestamp) {
    let give_up = async {
        let Some(mut lease) = api.get_opt(&config.name).await? else {
            return Ok::<bool, kube::Error>(false);
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
            return Ok(false);
        }
        spec.holder_identity = None;
        spec.acquire_time = None;
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(1);
        api.replace(&config.name, &PostParams::default(), &lease)
            .await?;
        Ok(true)
    };
    match timeout(config.retry_period, give_up).await {
        Ok(Ok(true)) => tracing::info!(identity = %config.identity, "released the leader lease"),
        Ok(Ok(false)) => {}
        Ok(Err(error)) => tracing::warn!(%error, "releasing the leader lease failed"),
        Err(_) => tracing::warn!("releasing the leader lease timed out"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::fixtures::to_json;
    use crate::mock::{Expect, World, context, finish, serve};
    use http::Method;
    use serde_json::json;

    fn config(identity: &str) -> LeaseConfig {
        LeaseConfig {
            name: "kbatch-controller".into(),
            namespace: "kbatch-system".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    fn held(by: &str, renewed: &str) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(by.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(renewed.parse().unwrap())),
            lease_transitions: Some(2),
            ..LeaseSpec::default()
        }
    }

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    const LEASE: &str =
        "/apis/coordination.k8s.io/v1/namespaces/kbatch-system/leases/kbatch-controller";
    const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kbatch-system/leases?";

    fn stored(spec: LeaseSpec) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("kbatch-controller".into()),
                namespace: Some("kbatch-system".into()),
                resource_version: Some("5".into()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
        }
    }

    fn status(code: u16, reason: &str) -> serde_json::Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "reason": reason, "code": code, "message": reason})
    }

    /// Runs one [`try_acquire_at`] as `a` at `now`, having seen resourceVersion 5 unchanged
    /// for `seen_for`, against the `expected` requests.
    async fn attempt(now: &str, seen_for: Duration, expected: Vec<Expect>) -> Attempt {
        let (ctx, handle, _writers) = context(World::default());
        let verifier = serve(handle, expected);
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        let mut age = RecordAge {
            record: Some(("5".into(), Instant::now().checked_sub(seen_for).unwrap())),
        };
        let result = try_acquire_at(&api, &config("a"), &mut age, at(now))
            .await
            .unwrap();
        drop(api);
        drop(ctx);
        finish(verifier).await;
        result
    }

    /// The spec `a` writes at `now`, as [`claim`] decides it.
    fn taken(current: Option<&LeaseSpec>, now: &str) -> LeaseSpec {
        let Claim::Take(spec) = claim(current, &config("a"), at(now), Duration::from_secs(16))
        else {
            panic!("expected a take")
        };
        spec
    }

    #[tokio::test]
    async fn an_absent_lease_is_created() {
        let now = "2026-11-22T10:00:00Z";
        let spec = taken(None, now);
        let mut created = stored(spec.clone());
        created.metadata.resource_version = None;
        let got = attempt(
            now,
            Duration::ZERO,
            vec![
                Expect::new(Method::GET, LEASE, status(404, "NotFound")).status(404),
                Expect::new(Method::POST, LEASES, to_json(&stored(spec.clone())))
                    .body(to_json(&created)),
            ],
        )
        .await;
        assert_eq!(got, Attempt::Holds(Box::new(stored(spec))));
    }

    #[tokio::test]
    async fn our_lease_is_renewed_with_a_conditional_replace() {
        let now = "2026-11-22T10:00:05Z";
        let current = held("a", "2026-11-22T10:00:00Z");
        let renewed = stored(taken(Some(&current), now));
        let got = attempt(
            now,
            Duration::ZERO,
            vec![
                Expect::new(Method::GET, LEASE, to_json(&stored(current))),
                // The replace carries resourceVersion 5: it fails if anyone wrote since.
                Expect::new(Method::PUT, &format!("{LEASE}?"), to_json(&renewed))
                    .body(to_json(&renewed)),
            ],
        )
        .await;
        assert_eq!(got, Attempt::Holds(Box::new(renewed)));
    }

    #[tokio::test]
    async fn a_lease_seen_unchanged_for_its_duration_is_taken_over() {
        let now = "2026-11-22T10:00:16Z";
        let current = held("b", "2026-11-22T10:00:00Z");
        let spec = taken(Some(&current), now);
        assert_eq!(spec.lease_transitions, Some(3));
        let took = stored(spec);
        let got = attempt(
            now,
            Duration::from_secs(16),
            vec![
                Expect::new(Method::GET, LEASE, to_json(&stored(current))),
                Expect::new(Method::PUT, &format!("{LEASE}?"), to_json(&took)).body(to_json(&took)),
            ],
        )
        .await;
        assert_eq!(got, Attempt::Holds(Box::new(took)));
    }

    #[tokio::test]
    async fn a_lease_seen_changing_is_left_alone_whatever_the_clocks_say() {
        for (renewed, seen_for) in [
            // Renewed 10 s ago by b's clock, seen unchanged for 10 s.
            ("2026-11-22T10:00:00Z", Duration::from_secs(10)),
            // b's clock is an hour behind ours, but we saw its record change just now.
            ("2026-11-22T09:00:10Z", Duration::ZERO),
        ] {
            let current = held("b", renewed);
            let got = attempt(
                "2026-11-22T10:00:10Z",
                seen_for,
                vec![Expect::new(Method::GET, LEASE, to_json(&stored(current)))],
            )
            .await;
            assert_eq!(got, Attempt::HeldBy("b".into()), "renewed {renewed}");
        }
    }

    #[tokio::test]
    async fn losing_the_race_means_asking_again() {
        let now = "2026-11-22T10:00:16Z";
        let current = held("b", "2026-11-22T10:00:00Z");
        let took = stored(taken(Some(&current), now));
        let got = attempt(
            now,
            Duration::from_secs(16),
            vec![
                Expect::new(Method::GET, LEASE, to_json(&stored(current))),
                Expect::new(Method::PUT, &format!("{LEASE}?"), status(409, "Conflict"))
                    .status(409)
                    .body(to_json(&took)),
            ],
        )
        .await;
        assert_eq!(got, Attempt::Conflict);
    }

    #[tokio::test]
    async fn other_errors_are_reported() {
        let (ctx, handle, _writers) = context(World::default());
        let verifier = serve(
            handle,
            vec![Expect::new(Method::GET, LEASE, status(403, "Forbidden")).status(403)],
        );
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        let result = try_acquire_at(
            &api,
            &config("a"),
            &mut RecordAge::default(),
            at("2026-11-22T10:00:00Z"),
        )
        .await;
        assert!(
            matches!(result, Err(kube::Error::Api(ref s)) if s.code == 403),
            "{result:?}"
        );
        drop(api);
        drop(ctx);
        finish(verifier).await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_leader_stops_at_its_renew_deadline_when_renewals_fail() {
        let (ctx, handle, _writers) = context(World::default());
        // Renewals every 2 s after the acquisition: at 2, 4, 6 and 8 s; then the deadline.
        let failing = (0..4)
            .map(|_| Expect::new(Method::GET, LEASE, status(500, "InternalError")).status(500))
            .collect();
        let verifier = serve(handle, failing);
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        let start = Instant::now();
        let lost = hold(&api, &config("a"), start).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        let LeaseLost::NotRenewed { within, last_error } = lost else {
            panic!("{lost:?}")
        };
        assert_eq!(within, Duration::from_secs(10));
        assert!(last_error.is_some_and(|e| e.contains("InternalError")));
        drop(api);
        drop(ctx);
        finish(verifier).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_that_hangs_does_not_keep_the_leader_past_its_deadline() {
        let (ctx, mut handle, _writers) = context(World::default());
        // An API server that takes requests and never answers them.
        let black_hole = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(pending) = handle.next_request().await {
                held.push(pending);
            }
        });
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        let start = Instant::now();
        let lost = hold(&api, &config("a"), start).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_eq!(
            lost.to_string(),
            "could not renew the leader lease within 10s (the API server did not answer in time)"
        );
        black_hole.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_leader_stops_as_soon_as_another_holds_the_lease() {
        let (ctx, handle, _writers) = context(World::default());
        let verifier = serve(
            handle,
            vec![Expect::new(
                Method::GET,
                LEASE,
                to_json(&stored(held("b", "2026-11-22T10:00:00Z"))),
            )],
        );
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        let lost = hold(&api, &config("a"), Instant::now()).await;
        assert_eq!(lost, LeaseLost::TakenBy("b".into()));
        assert_eq!(lost.to_string(), "b took the leader lease");
        drop(api);
        drop(ctx);
        finish(verifier).await;
    }

    #[tokio::test]
    async fn release_clears_our_holder_with_a_conditional_write() {
        let (ctx, handle, _writers) = context(World::default());
        let ours = stored(held("a", "2026-11-22T10:00:00Z"));
        let free = stored(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            renew_time: Some(MicroTime(at("2026-11-22T10:00:03Z"))),
            lease_transitions: Some(2),
            ..LeaseSpec::default()
        });
        let verifier = serve(
            handle,
            vec![
                Expect::new(Method::GET, LEASE, to_json(&ours)),
                // resourceVersion 5: a lease someone else took meanwhile is left alone.
                Expect::new(Method::PUT, &format!("{LEASE}?"), to_json(&free)).body(to_json(&free)),
            ],
        );
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        release_at(&api, &config("a"), at("2026-11-22T10:00:03Z")).await;
        drop(api);
        drop(ctx);
        finish(verifier).await;
    }

    #[tokio::test]
    async fn release_leaves_another_holders_lease_alone() {
        let (ctx, handle, _writers) = context(World::default());
        let theirs = stored(held("b", "2026-11-22T10:00:00Z"));
        let verifier = serve(
            handle,
            vec![Expect::new(Method::GET, LEASE, to_json(&theirs))],
        );
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        release_at(&api, &config("a"), at("2026-11-22T10:00:03Z")).await;
        drop(api);
        drop(ctx);
        finish(verifier).await;
    }

    #[test]
    fn takes_a_missing_lease() {
        let Claim::Take(spec) = claim(
            None,
            &config("a"),
            at("2026-11-22T10:00:00Z"),
            Duration::ZERO,
        ) else {
            panic!("a missing lease is free")
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(0));
    }

    #[test]
    fn takes_a_released_lease_at_once() {
        let mut released = held("b", "2026-11-22T10:00:00Z");
        released.holder_identity = None;
        assert!(matches!(
            claim(
                Some(&released),
                &config("a"),
                at("2026-11-22T10:00:01Z"),
                Duration::ZERO
            ),
            Claim::Take(_)
        ));
    }

    #[test]
    fn respects_a_live_holder_and_takes_an_expired_one() {
        let lease = held("b", "2026-11-22T10:00:00Z");
        let now = at("2026-11-22T10:00:16Z");
        assert_eq!(
            claim(Some(&lease), &config("a"), now, Duration::from_secs(15)),
            Claim::HeldBy("b".into())
        );
        let Claim::Take(spec) = claim(Some(&lease), &config("a"), now, Duration::from_secs(16))
        else {
            panic!("an expired lease is free")
        };
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(spec.acquire_time.map(|t| t.0), Some(now));
    }

    #[test]
    fn renews_its_own_lease_without_a_transition() {
        let mut lease = held("a", "2026-11-22T10:00:00Z");
        lease.acquire_time = Some(MicroTime(at("2026-11-22T09:00:00Z")));
        let Claim::Take(spec) = claim(
            Some(&lease),
            &config("a"),
            at("2026-11-22T10:00:05Z"),
            Duration::ZERO,
        ) else {
            panic!("the holder renews")
        };
        assert_eq!(spec.lease_transitions, Some(2));
        assert_eq!(
            spec.acquire_time.map(|t| t.0),
            Some(at("2026-11-22T09:00:00Z"))
        );
        assert_eq!(
            spec.renew_time.map(|t| t.0),
            Some(at("2026-11-22T10:00:05Z"))
        );
    }

    #[test]
    fn a_record_is_unchanged_until_its_resource_version_changes() {
        let mut age = RecordAge::default();
        let t0 = Instant::now();
        let v5 = stored(held("b", "2026-11-22T10:00:00Z"));
        let mut v6 = v5.clone();
        v6.metadata.resource_version = Some("6".into());
        assert_eq!(age.unchanged_for(Some(&v5), t0), Duration::ZERO);
        let later = t0 + Duration::from_secs(7);
        assert_eq!(age.unchanged_for(Some(&v5), later), Duration::from_secs(7));
        assert_eq!(age.unchanged_for(Some(&v6), later), Duration::ZERO);
    }
}
