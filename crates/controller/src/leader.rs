//! Leader election over a `coordination.k8s.io/v1` Lease, so that two replicas never
//! reconcile at once. kube-runtime 5 has no lease helper; this is the client-go scheme:
//!
//! - the Lease names its holder and when it last renewed; it is free when it has no holder
//!   or was not renewed within `leaseDurationSeconds`;
//! - a replica takes or renews it with a write conditional on `resourceVersion` (create, or
//!   replace), so two replicas cannot both succeed;
//! - the leader renews every [`LeaseConfig::renew_every`]; when a renewal fails for longer
//!   than the lease lasts, it stops (the process exits and restarts as a follower).
//!
//! [`claim`] is the pure decision.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use std::time::Duration;

/// Where the Lease is and who we are.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// Its namespace (the pod's).
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a holder keeps the lease without renewing it.
    pub duration: Duration,
    /// How often the leader renews.
    pub renew_every: Duration,
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
            renew_every: Duration::from_secs(5),
        }
    }
}

/// What [`claim`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Write this spec (create when there is no Lease, else replace conditionally).
    Take(LeaseSpec),
    /// Someone else holds it until about then.
    HeldBy(String),
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// Whether `identity` may take (or renew) `current` at `now`, and the spec to write.
pub fn claim(current: Option<&LeaseSpec>, config: &LeaseConfig, now: Timestamp) -> Claim {
    let me = config.identity.as_str();
    let holder = current.and_then(|s| s.holder_identity.as_deref());
    let renewed = current.and_then(|s| s.renew_time.as_ref().map(|t| t.0));
    let lasts = current
        .and_then(|s| s.lease_duration_seconds)
        .unwrap_or(seconds(config.duration));
    let expired = renewed.is_none_or(|t| now > t + SignedDuration::from_secs(i64::from(lasts)));
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

/// One attempt: takes or renews the lease; `Ok(None)` when another replica holds it.
pub async fn try_acquire(
    api: &Api<Lease>,
    config: &LeaseConfig,
) -> Result<Option<Lease>, kube::Error> {
    try_acquire_at(api, config, Timestamp::now()).await
}

/// [`try_acquire`] at `now` (a fixed clock in tests).
pub async fn try_acquire_at(
    api: &Api<Lease>,
    config: &LeaseConfig,
    now: Timestamp,
) -> Result<Option<Lease>, kube::Error> {
    let current = api.get_opt(&config.name).await?;
    match claim(current.as_ref().and_then(|l| l.spec.as_ref()), config, now) {
        Claim::HeldBy(holder) => {
            tracing::debug!(%holder, "lease held by another replica");
            Ok(None)
        }
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
                Ok(lease) => Ok(Some(lease)),
                // Another replica wrote first.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits until this replica holds the lease.
pub async fn acquire(api: &Api<Lease>, config: &LeaseConfig) -> Lease {
    loop {
        match try_acquire(api, config).await {
            Ok(Some(lease)) => {
                tracing::info!(identity = %config.identity, "acquired the leader lease");
                return lease;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "leader election failed; retrying"),
        }
        tokio::time::sleep(config.renew_every).await;
    }
}

/// Renews the lease until it is lost: returns when no renewal succeeded for the lease's
/// duration, or another replica took it.
pub async fn hold(api: &Api<Lease>, config: &LeaseConfig) -> String {
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(config.renew_every).await;
        match try_acquire(api, config).await {
            Ok(Some(_)) => last_renewal = tokio::time::Instant::now(),
            Ok(None) => return "another replica took the leader lease".to_owned(),
            Err(error) => tracing::warn!(%error, "renewing the leader lease failed"),
        }
        if last_renewal.elapsed() >= config.duration {
            return "could not renew the leader lease in time".to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn config(identity: &str) -> LeaseConfig {
        LeaseConfig {
            name: "kbatch-controller".into(),
            namespace: "kbatch-system".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
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

    use crate::fixtures::to_json;
    use crate::mock::{Expect, World, context, finish, serve};
    use http::Method;
    use serde_json::json;

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

    /// Runs one [`try_acquire_at`] as `a` at `now` against the `expected` requests.
    async fn attempt(now: &str, expected: Vec<Expect>) -> Option<Lease> {
        let (ctx, handle, _writers) = context(World::default());
        let verifier = serve(handle, expected);
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        let result = try_acquire_at(&api, &config("a"), at(now)).await.unwrap();
        drop(api);
        drop(ctx);
        finish(verifier).await;
        result
    }

    /// The spec `a` writes at `now`, as [`claim`] decides it.
    fn taken(current: Option<&LeaseSpec>, now: &str) -> LeaseSpec {
        let Claim::Take(spec) = claim(current, &config("a"), at(now)) else {
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
            vec![
                Expect::new(Method::GET, LEASE, status(404, "NotFound")).status(404),
                Expect::new(Method::POST, LEASES, to_json(&stored(spec.clone())))
                    .body(to_json(&created)),
            ],
        )
        .await;
        assert_eq!(got.and_then(|l| l.spec), Some(spec));
    }

    #[tokio::test]
    async fn our_lease_is_renewed_with_a_conditional_replace() {
        let now = "2026-11-22T10:00:05Z";
        let current = held("a", "2026-11-22T10:00:00Z");
        let renewed = stored(taken(Some(&current), now));
        let got = attempt(
            now,
            vec![
                Expect::new(Method::GET, LEASE, to_json(&stored(current))),
                // The replace carries resourceVersion 5: it fails if anyone wrote since.
                Expect::new(Method::PUT, &format!("{LEASE}?"), to_json(&renewed))
                    .body(to_json(&renewed)),
            ],
        )
        .await;
        assert_eq!(got, Some(renewed));
    }

    #[tokio::test]
    async fn an_expired_lease_of_another_replica_is_taken_over() {
        let now = "2026-11-22T10:00:16Z";
        let current = held("b", "2026-11-22T10:00:00Z");
        let spec = taken(Some(&current), now);
        assert_eq!(spec.lease_transitions, Some(3));
        let took = stored(spec);
        let got = attempt(
            now,
            vec![
                Expect::new(Method::GET, LEASE, to_json(&stored(current))),
                Expect::new(Method::PUT, &format!("{LEASE}?"), to_json(&took)).body(to_json(&took)),
            ],
        )
        .await;
        assert_eq!(got, Some(took));
    }

    #[tokio::test]
    async fn a_fresh_lease_of_another_replica_is_left_alone() {
        let current = held("b", "2026-11-22T10:00:00Z");
        let got = attempt(
            "2026-11-22T10:00:10Z",
            vec![Expect::new(Method::GET, LEASE, to_json(&stored(current)))],
        )
        .await;
        assert_eq!(got, None);
    }

    #[tokio::test]
    async fn losing_the_race_means_not_leader_this_round() {
        let now = "2026-11-22T10:00:16Z";
        let current = held("b", "2026-11-22T10:00:00Z");
        let took = stored(taken(Some(&current), now));
        let got = attempt(
            now,
            vec![
                Expect::new(Method::GET, LEASE, to_json(&stored(current))),
                Expect::new(Method::PUT, &format!("{LEASE}?"), status(409, "Conflict"))
                    .status(409)
                    .body(to_json(&took)),
            ],
        )
        .await;
        assert_eq!(got, None);
    }

    #[tokio::test]
    async fn other_errors_are_reported() {
        let (ctx, handle, _writers) = context(World::default());
        let verifier = serve(
            handle,
            vec![Expect::new(Method::GET, LEASE, status(403, "Forbidden")).status(403)],
        );
        let api: Api<Lease> = Api::namespaced(ctx.client.clone(), "kbatch-system");
        let result = try_acquire_at(&api, &config("a"), at("2026-11-22T10:00:00Z")).await;
        assert!(
            matches!(result, Err(kube::Error::Api(ref s)) if s.code == 403),
            "{result:?}"
        );
        drop(api);
        drop(ctx);
        finish(verifier).await;
    }

    #[test]
    fn takes_a_missing_lease() {
        let Claim::Take(spec) = claim(None, &config("a"), at("2026-11-22T10:00:00Z")) else {
            panic!("a missing lease is free")
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(0));
    }

    #[test]
    fn respects_a_live_holder_and_takes_an_expired_one() {
        let lease = held("b", "2026-11-22T10:00:00Z");
        assert_eq!(
            claim(Some(&lease), &config("a"), at("2026-11-22T10:00:10Z")),
            Claim::HeldBy("b".into())
        );
        let Claim::Take(spec) = claim(Some(&lease), &config("a"), at("2026-11-22T10:00:16Z"))
        else {
            panic!("an expired lease is free")
        };
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(
            spec.acquire_time.map(|t| t.0),
            Some(at("2026-11-22T10:00:16Z"))
        );
    }

    #[test]
    fn renews_its_own_lease_without_a_transition() {
        let mut lease = held("a", "2026-11-22T10:00:00Z");
        lease.acquire_time = Some(MicroTime(at("2026-11-22T09:00:00Z")));
        let Claim::Take(spec) = claim(Some(&lease), &config("a"), at("2026-11-22T10:00:05Z"))
        else {
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
}
