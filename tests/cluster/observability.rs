//! What an operator sees of the controller: Events on a BatchJob for each phase, the
//! queue's job counts in its status, `/metrics` with reconciles, API requests, jobs per queue
//! and budget spending, and `/readyz` once it leads with its stores synced.

use crate::common::{create, job, team, wait_phase};
use k8s_openapi::api::events::v1::Event;
use kbatch_e2e::cluster::Cluster;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_e2e::probe;
use kbatch_policy::api::{BatchQueue, JobPhase};
use kube::Api;
use kube::api::ListParams;
use std::collections::BTreeSet;

/// The value of the sample `series` (name and labels as written) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

pub fn the_controller_reports_events_metrics_and_readiness(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "observed", 10.0).await?;
        let ns = &team.namespace;
        let alice = cluster.practitioner("alice").await?;
        create(&alice, ns, &job("seen", &team.queue, 1, "10m")).await?;
        wait_phase(cluster, ns, "seen", JobPhase::Succeeded).await?;

        // `kubectl get events --field-selector regarding.name=seen`: one per phase it went
        // through. It started at first sight (never Queued), and Ready is written only for
        // tasks that wait a while to start.
        let events: Api<Event> = Api::namespaced(cluster.admin.clone(), ns);
        let wanted: BTreeSet<&str> = ["Scheduled", "Running", "Succeeded"].into();
        let seen = wait::until("an Event for each phase of the job", PATIENCE, || async {
            let listed = events
                .list(&ListParams::default().fields("regarding.name=seen"))
                .await?;
            let actions: BTreeSet<String> = listed
                .items
                .iter()
                .filter_map(|e| e.action.clone())
                .collect();
            Ok(if wanted.iter().all(|a| actions.contains(*a)) {
                Ok(listed.items)
            } else {
                Err(format!("actions {actions:?}"))
            })
        })
        .await?;
        for event in &seen {
            assert_eq!(event.type_.as_deref(), Some("Normal"), "{event:?}");
            assert_eq!(
                event.reporting_controller.as_deref(),
                Some("kbatch-controller")
            );
            let regarding = event.regarding.as_ref().expect("regarding");
            assert_eq!(regarding.kind.as_deref(), Some("BatchJob"));
        }

        // `kubectl get bq main -o yaml`: status.jobs.phaseCounts.
        let queues: Api<BatchQueue> = Api::namespaced(alice.clone(), ns);
        wait::until(
            "the queue's counts to show the finished job",
            PATIENCE,
            || async {
                let queue = queues.get(&team.queue).await?;
                let counts = queue.status.and_then(|s| s.jobs).map(|j| j.phase_counts);
                Ok(match counts {
                    Some(c) if c.get("Succeeded") == Some(&1) && c.len() == 1 => Ok(()),
                    other => Err(format!("phaseCounts {other:?}")),
                })
            },
        )
        .await?;

        // `kubectl get bq main -o wide`: the table the API server serves has the queue's counts
        // as columns; nothing is queued or running now, so those cells are empty (`<none>`).
        let table: serde_json::Value = alice
            .request(
                http::Request::get(format!(
                    "/apis/kbatch.k8s.io/v1beta1/namespaces/{ns}/batchqueues/{}",
                    team.queue
                ))
                .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
                .body(Vec::new())?,
            )
            .await?;
        let columns: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        let cells = &table["rows"][0]["cells"];
        let columns_and_counts = [
            ("Queued", None),
            ("Running", None),
            ("Succeeded", Some(1)),
            ("Failed", None),
        ];
        for (name, expected) in columns_and_counts {
            let at = columns.iter().position(|c| *c == name);
            let at = at.unwrap_or_else(|| panic!("no column {name} in {columns:?}"));
            assert_eq!(cells[at].as_i64(), expected, "{name} in {table}");
        }
        assert!(cells[0].as_str() == Some(team.queue.as_str()), "{table}");

        let probes = cluster.controller_probe_addr();
        let (status, _, body) = probe(probes, "/readyz").await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "ok\n"));
        assert_eq!(probe(probes, "/healthz").await.0.as_u16(), 200);
        let (status, content_type, text) = probe(probes, "/metrics").await;
        assert_eq!(status.as_u16(), 200);
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        let at_least_one = [
            "kbatch_controller_leader".to_owned(),
            r#"kbatch_controller_reconciles_total{result="ok",reason="none"}"#.to_owned(),
            r#"kbatch_controller_api_requests_total{verb="create",resource="jobs"}"#.to_owned(),
            r#"kbatch_controller_api_requests_total{verb="patch",resource="batchjobs/status"}"#
                .to_owned(),
            format!(r#"kbatch_controller_jobs{{namespace="{ns}",queue="main",phase="Succeeded"}}"#),
            format!(
                r#"kbatch_controller_budget_amount{{budget="{}",window="24h"}}"#,
                team.budget
            ),
            "kbatch_controller_scheduling_pass_duration_seconds_count".to_owned(),
        ];
        for series in &at_least_one {
            let value = sample(&text, series);
            assert!(
                value.is_some_and(|v| v >= 1.0),
                "{series} = {value:?} in\n{text}"
            );
        }
        let spent = format!(
            r#"kbatch_controller_budget_spent{{budget="{}",window="24h"}}"#,
            team.budget
        );
        assert!(
            sample(&text, &spent).is_some_and(|v| v > 0.0),
            "{spent} in\n{text}"
        );
        Ok(())
    })
}
