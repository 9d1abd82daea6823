//! What each identity may do with the shipped RBAC, as `kubectl auth can-i --list` shows it
//! (a SelfSubjectRulesReview): the README's security section states these rights.
//! `KBATCH_E2E_PRINT_RIGHTS=1` prints each list.

use crate::common::team;
use k8s_openapi::api::authorization::v1::{
    ResourceRule, SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use kbatch_e2e::cluster::{CONTROLLER_USER, Cluster, WEBHOOK_USER};
use kube::api::PostParams;
use kube::{Api, Client};

async fn rules(client: &Client, namespace: &str) -> anyhow::Result<Vec<ResourceRule>> {
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.to_owned()),
        },
        ..SelfSubjectRulesReview::default()
    };
    let answer = Api::<SelfSubjectRulesReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.map(|s| s.resource_rules).unwrap_or_default())
}

fn matches(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x == "*" || x == item)
}

/// Whether `rules` allow `verb` on `resource` (`batchjobs/status` for a subresource) of `group`.
fn can(rules: &[ResourceRule], group: &str, resource: &str, verb: &str) -> bool {
    rules.iter().any(|r| {
        matches(r.api_groups.as_deref().unwrap_or_default(), group)
            && matches(r.resources.as_deref().unwrap_or_default(), resource)
            && matches(&r.verbs, verb)
            && r.resource_names.as_ref().is_none_or(Vec::is_empty)
    })
}

const KBATCH: &str = "kbatch.k8s.io";
const WRITES: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
const STATUSES: [&str; 7] = [
    "batchjobs/status",
    "batchqueues/status",
    "batchpriorities/status",
    "batchjobconstraints/status",
    "batchbudgets/status",
    "batchcostmodels/status",
    "batchusercontexts/status",
];

fn print(who: &str, rules: &[ResourceRule]) {
    if std::env::var_os("KBATCH_E2E_PRINT_RIGHTS").is_none() {
        return;
    }
    println!("--- {who}");
    for r in rules {
        println!(
            "{:<40} {:<20} {:?}",
            r.resources.clone().unwrap_or_default().join(","),
            r.api_groups.clone().unwrap_or_default().join(","),
            r.verbs
        );
    }
}

pub fn each_identity_has_the_rights_the_readme_states(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.run(async {
        let team = team(cluster, "rights", 10.0).await?;
        let ns = &team.namespace;
        let groups = [
            "system:serviceaccounts",
            "system:serviceaccounts:kbatch-system",
        ];
        let identities = [
            ("practitioner alice", cluster.practitioner("alice").await?),
            (
                "namespace admin nadia",
                cluster.namespace_admin(ns, "nadia").await?,
            ),
            (
                "controller",
                cluster.client_as(CONTROLLER_USER, &groups).await?,
            ),
            ("webhook", cluster.client_as(WEBHOOK_USER, &groups).await?),
        ];
        for (who, client) in &identities {
            let rules = rules(client, ns).await?;
            print(who, &rules);
            let status_writes: Vec<&str> = STATUSES
                .iter()
                .copied()
                .filter(|s| {
                    ["update", "patch"]
                        .iter()
                        .any(|v| can(&rules, KBATCH, s, v))
                })
                .collect();
            match *who {
                "controller" => {
                    assert_eq!(
                        status_writes,
                        [
                            "batchjobs/status",
                            "batchqueues/status",
                            "batchbudgets/status"
                        ],
                        "{who}"
                    );
                    for verb in ["create", "delete", "list", "watch"] {
                        assert!(can(&rules, "batch", "jobs", verb), "{who} {verb} jobs");
                    }
                    assert!(can(&rules, "", "pods", "list"), "{who} lists pods");
                    assert!(
                        can(&rules, "events.k8s.io", "events", "create"),
                        "{who} creates events"
                    );
                    for verb in ["patch", "update", "delete"] {
                        assert!(
                            !can(&rules, "events.k8s.io", "events", verb),
                            "{who} may not {verb} events"
                        );
                    }
                    for verb in WRITES {
                        assert!(!can(&rules, "", "pods", verb), "{who} may not {verb} pods");
                        assert!(
                            !can(&rules, KBATCH, "batchusercontexts", verb),
                            "{who} {verb} contexts"
                        );
                    }
                    assert!(!can(&rules, "", "secrets", "get"), "{who} reads no secret");
                }
                "webhook" => {
                    assert!(status_writes.is_empty(), "{who}: {status_writes:?}");
                    for verb in WRITES {
                        for resource in [
                            "batchjobs",
                            "batchqueues",
                            "batchusercontexts",
                            "batchbudgets",
                        ] {
                            assert!(
                                !can(&rules, KBATCH, resource, verb),
                                "{who} may not {verb} {resource}"
                            );
                        }
                    }
                    assert!(
                        can(&rules, KBATCH, "batchusercontexts", "watch"),
                        "{who} watches contexts"
                    );
                }
                _ => {
                    // People: submit and terminate their jobs; no status, no policy objects.
                    assert!(status_writes.is_empty(), "{who} writes {status_writes:?}");
                    for verb in ["create", "get", "list", "watch", "patch"] {
                        assert!(
                            can(&rules, KBATCH, "batchjobs", verb),
                            "{who} {verb} batchjobs"
                        );
                    }
                    for verb in WRITES {
                        for resource in ["batchqueues", "batchusercontexts"] {
                            assert!(
                                !can(&rules, KBATCH, resource, verb),
                                "{who} may not {verb} {resource}"
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    })
}
