//! `gpuType` and `usePreemptibleVM` put pods where the real scheduler may place them.

use crate::common::{create, job, pods_of, team, wait_phase};
use kbatch_e2e::cluster::Cluster;
use kbatch_policy::api::JobPhase;
use serde_json::{Value, json};

fn placed(name: &str, queue: &str, selector: Value, gpus: u32) -> Value {
    let mut j = job(name, queue, 2, "10m");
    j["spec"]["batchNodeSelector"] = selector;
    if gpus > 0 {
        j["spec"]["taskGroups"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] =
            json!(gpus);
    }
    j
}

pub fn gpu_and_preemptible_selectors_put_pods_on_the_right_nodes(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "placement", 100.0).await?;
        let ns = &team.namespace;
        let q = &team.queue;
        let t4 = json!({"operator": "Equals", "values": ["nvidia-tesla-t4"]});
        let vm = |v: &str| json!({"operator": "Equals", "values": [v]});
        // (job, selector, GPUs per task, the nodes the scheduler may choose)
        let cases: [(&str, Value, u32, &[&str]); 5] = [
            ("t4", json!({"gpuType": t4}), 1, &["e2e-t4-0"]),
            (
                "spot",
                json!({"usePreemptibleVM": vm("Require")}),
                0,
                &["e2e-spot-0", "e2e-spot-t4-0"],
            ),
            (
                "t4-spot",
                json!({"gpuType": t4, "usePreemptibleVM": vm("Require")}),
                1,
                &["e2e-spot-t4-0"],
            ),
            (
                "prefer-spot",
                json!({"usePreemptibleVM": vm("Prefer")}),
                0,
                &["e2e-spot-0", "e2e-spot-t4-0"],
            ),
            (
                "no-spot",
                json!({"usePreemptibleVM": vm("Forbid")}),
                0,
                &["e2e-standard-0", "e2e-standard-1", "e2e-t4-0"],
            ),
        ];
        let alice = cluster.practitioner("alice").await?;
        for (name, selector, gpus, _) in &cases {
            create(&alice, ns, &placed(name, q, selector.clone(), *gpus)).await?;
        }
        for (name, _, _, allowed) in &cases {
            wait_phase(cluster, ns, name, JobPhase::Succeeded).await?;
            let pods = pods_of(cluster, ns, name).await?;
            assert_eq!(pods.len(), 2, "{name}: one pod per task");
            for pod in pods {
                let node = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
                assert!(
                    allowed.contains(&node.as_str()),
                    "{name}: a pod ran on {node}, expected one of {allowed:?}"
                );
            }
        }
        Ok(())
    })
}
