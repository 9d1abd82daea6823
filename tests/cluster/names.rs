//! Job names: a BatchJob's Jobs are named `<job>-<group>`, and `a` + `b-c` joins like `a-b` +
//! `c`. Two such jobs in one namespace must both run, each with its own Job.

use crate::common::{create, jobs_of, team, wait_phase};
use kbatch_e2e::cluster::Cluster;
use kbatch_policy::api::JobPhase;
use serde_json::json;

pub fn jobs_whose_names_join_alike_both_run(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "names", 10.0).await?;
        let ns = &team.namespace;
        let alice = cluster.practitioner("alice").await?;
        for (name, group) in [("a-b", "c"), ("a", "b-c")] {
            let mut j = crate::common::job(name, &team.queue, 1, "10m");
            j["spec"]["taskGroups"][0]["name"] = json!(group);
            create(&alice, ns, &j).await?;
        }
        let mut names = Vec::new();
        for name in ["a-b", "a"] {
            let done = wait_phase(cluster, ns, name, JobPhase::Succeeded).await?;
            let uid = done.metadata.uid.clone().unwrap_or_default();
            let owned: Vec<String> = jobs_of(cluster, ns, name)
                .await?
                .into_iter()
                .filter(|j| {
                    j.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.uid == uid)
                })
                .filter_map(|j| j.metadata.name)
                .collect();
            assert_eq!(owned.len(), 1, "{name} has its own Job: {owned:?}");
            names.extend(owned);
        }
        assert_ne!(names[0], names[1]);
        Ok(())
    })
}
