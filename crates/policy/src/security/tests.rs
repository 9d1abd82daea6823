#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::api::{BatchUserContext, SecurityPolicySpec};
use serde_json::{Value, json};

fn policy(spec: Value) -> SecurityPolicySpec {
    serde_json::from_value(spec).unwrap()
}

fn job(pod: Value) -> BatchJob {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": "j", "namespace": "team-a"},
        "spec": {"batchQueueName": "q", "taskGroups": [{"name": "main", "maxWallTime": "1h", "template": {"spec": pod}}]}
    }))
    .unwrap()
}

fn fields(v: &Violations) -> Vec<String> {
    v.iter().map(|v| v.field.clone()).collect()
}

const POD: &str = "spec.taskGroups[0].template.spec";

/// (name, policy, pod, expected violation fields before defaulting, after defaulting)
type Case = (&'static str, Value, Value, Vec<String>, Vec<String>);

#[test]
fn each_rule_allows_refuses_and_defaults() {
    let cases: Vec<Case> = vec![
        (
            "privileged refused",
            json!({"privileged": false}),
            json!({"containers": [{"name": "c", "securityContext": {"privileged": true}}]}),
            vec![format!("{POD}.containers[0].securityContext.privileged")],
            vec![format!("{POD}.containers[0].securityContext.privileged")],
        ),
        (
            "privileged allowed",
            json!({"privileged": true}),
            json!({"containers": [{"name": "c", "securityContext": {"privileged": true}}]}),
            vec![],
            vec![],
        ),
        (
            "escalation defaulted off",
            json!({"allowPrivilegeEscalation": false}),
            json!({"containers": [{"name": "c"}]}),
            vec![format!(
                "{POD}.containers[0].securityContext.allowPrivilegeEscalation"
            )],
            vec![],
        ),
        (
            "escalation set on is refused",
            json!({"allowPrivilegeEscalation": false}),
            json!({"containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": true}}]}),
            vec![format!(
                "{POD}.containers[0].securityContext.allowPrivilegeEscalation"
            )],
            vec![format!(
                "{POD}.containers[0].securityContext.allowPrivilegeEscalation"
            )],
        ),
        (
            "required drops are added",
            json!({"requiredDropCapabilities": ["NET_RAW"]}),
            json!({"containers": [{"name": "c"}]}),
            vec![format!(
                "{POD}.containers[0].securityContext.capabilities.drop"
            )],
            vec![],
        ),
        (
            "dropping ALL covers every required drop",
            json!({"requiredDropCapabilities": ["NET_RAW", "SYS_ADMIN"]}),
            json!({"containers": [{"name": "c", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]}),
            vec![],
            vec![],
        ),
        (
            "adding a capability outside the allowed list",
            json!({"allowedCapabilities": ["NET_BIND_SERVICE"]}),
            json!({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE", "SYS_ADMIN"]}}}]}),
            vec![format!(
                "{POD}.containers[0].securityContext.capabilities.add[1]"
            )],
            vec![format!(
                "{POD}.containers[0].securityContext.capabilities.add[1]"
            )],
        ),
        (
            "volume types",
            json!({"volumes": ["configMap", "persistentVolumeClaim"]}),
            json!({"containers": [{"name": "c"}], "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "d"}},
                {"name": "root", "hostPath": {"path": "/"}}]}),
            vec![format!("{POD}.volumes[1]")],
            vec![format!("{POD}.volumes[1]")],
        ),
        (
            "volume types under their PodSecurityPolicy names",
            json!({"volumes": ["cephFS", "emptyDir"]}),
            json!({"containers": [{"name": "c"}], "volumes": [
                {"name": "shared", "cephfs": {"monitors": ["10.0.0.1:6789"]}},
                {"name": "scratch"},
                {"name": "disk", "awsElasticBlockStore": {"volumeID": "vol-1"}},
                {"name": "both", "emptyDir": {}, "hostPath": {"path": "/"}}]}),
            vec![format!("{POD}.volumes[2]"), format!("{POD}.volumes[3]")],
            vec![format!("{POD}.volumes[2]"), format!("{POD}.volumes[3]")],
        ),
        (
            "any volume type",
            json!({"volumes": ["*"]}),
            json!({"containers": [{"name": "c"}], "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
            vec![],
            vec![],
        ),
        (
            "host namespaces",
            json!({"hostNetwork": false, "hostPID": true}),
            json!({"containers": [{"name": "c"}], "hostNetwork": true, "hostPID": true, "hostIPC": true}),
            vec![format!("{POD}.hostNetwork"), format!("{POD}.hostIPC")],
            vec![format!("{POD}.hostNetwork"), format!("{POD}.hostIPC")],
        ),
        (
            "host ports",
            json!({"hostPorts": [{"min": 8000, "max": 8080}]}),
            json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 9000}]}]}),
            vec![format!("{POD}.containers[0].ports[1].hostPort")],
            vec![format!("{POD}.containers[0].ports[1].hostPort")],
        ),
        (
            "runAsUser MustRunAs defaults to the first min",
            json!({"runAsUser": {"rule": "MustRunAs", "ranges": [{"min": 1000, "max": 2000}]}}),
            json!({"containers": [{"name": "c"}]}),
            vec![format!("{POD}.containers[0].securityContext.runAsUser")],
            vec![],
        ),
        (
            "runAsUser outside the ranges",
            json!({"runAsUser": {"rule": "MustRunAs", "ranges": [{"min": 1000, "max": 2000}]}}),
            json!({"securityContext": {"runAsUser": 0}, "containers": [{"name": "c"}]}),
            vec![format!("{POD}.containers[0].securityContext.runAsUser")],
            vec![format!("{POD}.containers[0].securityContext.runAsUser")],
        ),
        (
            "MustRunAsNonRoot defaults runAsNonRoot",
            json!({"runAsUser": {"rule": "MustRunAsNonRoot"}}),
            json!({"containers": [{"name": "c"}]}),
            vec![format!("{POD}.containers[0].securityContext.runAsNonRoot")],
            vec![],
        ),
        (
            "MustRunAsNonRoot refuses uid 0",
            json!({"runAsUser": {"rule": "MustRunAsNonRoot"}}),
            json!({"containers": [{"name": "c", "securityContext": {"runAsUser": 0}}]}),
            vec![format!("{POD}.containers[0].securityContext.runAsUser")],
            vec![format!("{POD}.containers[0].securityContext.runAsUser")],
        ),
        (
            "runAsGroup MayRunAs allows unset",
            json!({"runAsGroup": {"rule": "MayRunAs", "ranges": [{"min": 5, "max": 6}]}}),
            json!({"containers": [{"name": "c"}]}),
            vec![],
            vec![],
        ),
        (
            "runAsGroup MayRunAs refuses outside",
            json!({"runAsGroup": {"rule": "MayRunAs", "ranges": [{"min": 5, "max": 6}]}}),
            json!({"containers": [{"name": "c", "securityContext": {"runAsGroup": 7}}]}),
            vec![format!("{POD}.containers[0].securityContext.runAsGroup")],
            vec![format!("{POD}.containers[0].securityContext.runAsGroup")],
        ),
        (
            "fsGroup MustRunAs defaults",
            json!({"fsGroup": {"rule": "MustRunAs", "ranges": [{"min": 100, "max": 200}]}}),
            json!({"containers": [{"name": "c"}]}),
            vec![format!("{POD}.securityContext.fsGroup")],
            vec![],
        ),
        (
            "supplementalGroups outside",
            json!({"supplementalGroups": {"rule": "MustRunAs", "ranges": [{"min": 100, "max": 200}]}}),
            json!({"securityContext": {"supplementalGroups": [150, 300]}, "containers": [{"name": "c"}]}),
            vec![format!("{POD}.securityContext.supplementalGroups")],
            vec![format!("{POD}.securityContext.supplementalGroups")],
        ),
        (
            "read-only root filesystem defaulted",
            json!({"readOnlyRootFilesystem": true}),
            json!({"containers": [{"name": "c"}]}),
            vec![format!(
                "{POD}.containers[0].securityContext.readOnlyRootFilesystem"
            )],
            vec![],
        ),
        (
            "the default service account is allowed",
            json!({}),
            json!({"serviceAccountName": "default", "containers": [{"name": "c"}]}),
            vec![],
            vec![],
        ),
        (
            "another service account is refused unless listed",
            json!({}),
            json!({"serviceAccountName": "deployer", "containers": [{"name": "c"}]}),
            vec![format!("{POD}.serviceAccountName")],
            vec![format!("{POD}.serviceAccountName")],
        ),
        (
            "the deprecated serviceAccount counts too",
            json!({}),
            json!({"serviceAccount": "deployer", "containers": [{"name": "c"}]}),
            vec![format!("{POD}.serviceAccountName")],
            vec![format!("{POD}.serviceAccountName")],
        ),
        (
            "a listed service account is allowed",
            json!({"allowedServiceAccounts": ["etl"]}),
            json!({"serviceAccountName": "etl", "containers": [{"name": "c"}]}),
            vec![],
            vec![],
        ),
        (
            "a token is refused unless allowed, and defaulted off",
            json!({}),
            json!({"automountServiceAccountToken": true, "containers": [{"name": "c"}]}),
            vec![format!("{POD}.automountServiceAccountToken")],
            vec![format!("{POD}.automountServiceAccountToken")],
        ),
        (
            "a token may be allowed",
            json!({"automountServiceAccountToken": true}),
            json!({"automountServiceAccountToken": true, "containers": [{"name": "c"}]}),
            vec![],
            vec![],
        ),
        (
            "claims outside the list are refused",
            json!({"allowedPersistentVolumeClaims": ["scratch"], "volumes": ["persistentVolumeClaim"]}),
            json!({"volumes": [{"name": "a", "persistentVolumeClaim": {"claimName": "scratch"}},
                {"name": "b", "persistentVolumeClaim": {"claimName": "payroll"}}],
                "containers": [{"name": "c"}]}),
            vec![format!("{POD}.volumes[1].persistentVolumeClaim.claimName")],
            vec![format!("{POD}.volumes[1].persistentVolumeClaim.claimName")],
        ),
        (
            "seccomp Unconfined is refused at the pod and the container",
            json!({}),
            json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}},
                "containers": [{"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}]}),
            vec![
                format!("{POD}.securityContext.seccompProfile.type"),
                format!("{POD}.containers[0].securityContext.seccompProfile.type"),
            ],
            vec![
                format!("{POD}.securityContext.seccompProfile.type"),
                format!("{POD}.containers[0].securityContext.seccompProfile.type"),
            ],
        ),
        (
            "seccomp Localhost is allowed",
            json!({}),
            json!({"containers": [{"name": "c", "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}}]}),
            vec![],
            vec![],
        ),
        (
            "a privileged context may run unconfined",
            json!({"privileged": true}),
            json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}, "sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
                "containers": [{"name": "c", "securityContext": {"procMount": "Unmasked"}}]}),
            vec![],
            vec![],
        ),
        (
            "AppArmor Unconfined is refused",
            json!({}),
            json!({"containers": [{"name": "c", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}]}),
            vec![format!(
                "{POD}.containers[0].securityContext.appArmorProfile.type"
            )],
            vec![format!(
                "{POD}.containers[0].securityContext.appArmorProfile.type"
            )],
        ),
        (
            "procMount Unmasked is refused in an init container",
            json!({}),
            json!({"initContainers": [{"name": "i", "securityContext": {"procMount": "Unmasked"}}],
                "containers": [{"name": "c", "securityContext": {"procMount": "Default"}}]}),
            vec![format!("{POD}.initContainers[0].securityContext.procMount")],
            vec![format!("{POD}.initContainers[0].securityContext.procMount")],
        ),
        (
            "only the safe sysctls",
            json!({}),
            json!({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"},
                {"name": "kernel.msgmax", "value": "65536"}]}, "containers": [{"name": "c"}]}),
            vec![format!("{POD}.securityContext.sysctls[1]")],
            vec![format!("{POD}.securityContext.sysctls[1]")],
        ),
        (
            "SELinux: a container type only, no user or role",
            json!({}),
            json!({"securityContext": {"seLinuxOptions": {"type": "container_t"}},
                "containers": [{"name": "c", "securityContext": {"seLinuxOptions": {"user": "system_u", "role": "sysadm_r", "type": "spc_t"}}}]}),
            vec![
                format!("{POD}.containers[0].securityContext.seLinuxOptions.user"),
                format!("{POD}.containers[0].securityContext.seLinuxOptions.role"),
                format!("{POD}.containers[0].securityContext.seLinuxOptions.type"),
            ],
            vec![
                format!("{POD}.containers[0].securityContext.seLinuxOptions.user"),
                format!("{POD}.containers[0].securityContext.seLinuxOptions.role"),
                format!("{POD}.containers[0].securityContext.seLinuxOptions.type"),
            ],
        ),
    ];
    for (name, p, pod, before, after) in cases {
        let p = policy(p);
        let mut j = job(pod);
        assert_eq!(
            fields(&validate_pod_security("ctx", &p, &j)),
            before,
            "{name}: before defaulting"
        );
        default_pod_security(&p, &mut j);
        assert_eq!(
            fields(&validate_pod_security("ctx", &p, &j)),
            after,
            "{name}: after defaulting"
        );
    }
}

#[test]
fn a_container_setting_overrides_the_pod_setting_both_ways() {
    let p =
        policy(json!({"runAsUser": {"rule": "MustRunAs", "ranges": [{"min": 1000, "max": 2000}]}}));
    // The pod is fine, the container is not.
    let j = job(json!({"securityContext": {"runAsUser": 1500},
        "containers": [{"name": "ok"}, {"name": "root", "securityContext": {"runAsUser": 0}}]}));
    assert_eq!(
        fields(&validate_pod_security("ctx", &p, &j)),
        [format!("{POD}.containers[1].securityContext.runAsUser")]
    );
    // The pod is not fine, the container fixes it for itself only.
    let j = job(json!({"securityContext": {"runAsUser": 0},
        "containers": [{"name": "fixed", "securityContext": {"runAsUser": 1200}}, {"name": "inherits"}]}));
    assert_eq!(
        fields(&validate_pod_security("ctx", &p, &j)),
        [format!("{POD}.containers[1].securityContext.runAsUser")]
    );
}

#[test]
fn init_and_ephemeral_containers_cannot_escape_the_rules() {
    let p = policy(json!({"privileged": false, "requiredDropCapabilities": ["ALL"]}));
    let mut j = job(json!({
        "initContainers": [{"name": "setup", "securityContext": {"privileged": true}}],
        "containers": [{"name": "c"}],
        "ephemeralContainers": [{"name": "debug", "securityContext": {"privileged": true}}]
    }));
    default_pod_security(&p, &mut j);
    assert_eq!(
        fields(&validate_pod_security("ctx", &p, &j)),
        [
            format!("{POD}.initContainers[0].securityContext.privileged"),
            format!("{POD}.ephemeralContainers[0].securityContext.privileged"),
        ]
    );
    let refused = validate_pod_security("ctx", &p, &j);
    let message = &refused.as_slice()[0].message;
    assert!(
        message.contains("\"setup\"")
            && message.contains("\"main\"")
            && message.contains("\"ctx\""),
        "{message}"
    );
}

fn context(name: &str, user: &str, spec: Value) -> BatchUserContext {
    serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchUserContext",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"userName": user, "securityPolicySpec": spec}
    }))
    .unwrap()
}

#[test]
fn an_exact_user_wins_over_the_wildcard_and_no_context_is_refused_by_default() {
    let mut set = PolicySet::new();
    set.upsert_user_context(context("everyone", "*", json!({"privileged": false})));
    set.upsert_user_context(context("ops", "olga", json!({"privileged": true})));
    let privileged =
        job(json!({"containers": [{"name": "c", "securityContext": {"privileged": true}}]}));
    assert!(validate_job_security(&set, &privileged, "olga", false).is_empty());
    assert_eq!(
        validate_job_security(&set, &privileged, "alice", false).len(),
        1
    );

    let mut lonely = PolicySet::new();
    lonely.upsert_user_context(context("ops", "olga", json!({})));
    let refused = validate_job_security(&lonely, &privileged, "alice", false);
    assert_eq!(refused.as_slice()[0].reason, Reason::Forbidden);
    assert!(refused.as_slice()[0].message.contains("\"alice\""));
    assert!(validate_job_security(&lonely, &privileged, "alice", true).is_empty());
}

#[test]
fn among_contexts_for_the_same_user_the_first_by_name_applies() {
    let privileged =
        job(json!({"containers": [{"name": "c", "securityContext": {"privileged": true}}]}));
    for (first, second, allowed) in [
        (
            json!({"privileged": false}),
            json!({"privileged": true}),
            false,
        ),
        (
            json!({"privileged": true}),
            json!({"privileged": false}),
            true,
        ),
    ] {
        let mut set = PolicySet::new();
        set.upsert_user_context(context("b-ops", "olga", second.clone()));
        set.upsert_user_context(context("a-ops", "olga", first.clone()));
        set.upsert_user_context(context("a-everyone", "*", json!({"privileged": true})));
        let v = validate_job_security(&set, &privileged, "olga", false);
        assert_eq!(
            v.is_empty(),
            allowed,
            "a-ops: {first}, b-ops: {second}: {v:?}"
        );
    }
}

#[test]
fn defaults_turn_the_token_off_and_the_runtime_seccomp_profile_on() {
    let mut j = job(json!({"containers": [{"name": "c"}]}));
    default_pod_security(&policy(json!({})), &mut j);
    let pod = j.spec.task_groups[0].template.spec.clone().unwrap();
    assert_eq!(pod.automount_service_account_token, Some(false));
    let seccomp = pod
        .security_context
        .and_then(|s| s.seccomp_profile)
        .unwrap();
    assert_eq!(seccomp.type_, "RuntimeDefault");

    // What the template sets is kept (and judged); a privileged context gets no profile.
    let mut j = job(json!({"automountServiceAccountToken": true,
        "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p"}},
        "containers": [{"name": "c"}]}));
    default_pod_security(
        &policy(json!({"automountServiceAccountToken": true})),
        &mut j,
    );
    let pod = j.spec.task_groups[0].template.spec.clone().unwrap();
    assert_eq!(pod.automount_service_account_token, Some(true));
    assert_eq!(
        pod.security_context.unwrap().seccomp_profile.unwrap().type_,
        "Localhost"
    );
    let mut j = job(json!({"containers": [{"name": "c"}]}));
    default_pod_security(&policy(json!({"privileged": true})), &mut j);
    let pod = j.spec.task_groups[0].template.spec.clone().unwrap();
    assert_eq!(pod.security_context, None);
}

#[test]
fn refusals_name_the_container_and_the_context() {
    let j = job(
        json!({"containers": [{"name": "train", "securityContext": {"procMount": "Unmasked"}}]}),
    );
    let v = validate_pod_security("everyone", &policy(json!({})), &j);
    let message = &v.iter().next().unwrap().message;
    assert!(
        message.contains("\"train\"")
            && message.contains("procMount")
            && message.contains("everyone"),
        "{message}"
    );
}

#[test]
fn queues_outside_the_list_are_refused() {
    let mut j = job(json!({"containers": [{"name": "c"}]}));
    let p = policy(json!({"allowedQueues": ["cpu"]}));
    assert_eq!(
        fields(&validate_pod_security("ctx", &p, &j)),
        ["spec.batchQueueName"]
    );
    j.spec.batch_queue_name = "cpu".into();
    assert!(validate_pod_security("ctx", &p, &j).is_empty());
    assert!(validate_pod_security("ctx", &policy(json!({"allowedQueues": ["*"]})), &j).is_empty());
}
