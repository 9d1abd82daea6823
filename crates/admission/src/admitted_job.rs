//! A BatchJob as admission decodes it: whole for an UPDATE, only what the rules read otherwise.
//!
//! Every request carries a whole BatchJob, and k8s-openapi's generated decoders of a pod
//! template are large (`Volume`'s alone is ~250 KB of machine code) and move kilobyte-sized
//! structs through every field. The rules of a CREATE or a DELETE read a few fields of a
//! template, so [`Reading::Admitted`] decodes only those and skips the rest unread. Their
//! types are still checked: the BatchJob CRD carries the PodTemplateSpec schema, and the API
//! server checks the whole template against it after mutating admission and before
//! validating admission. (This relies on the CRDs of this version being installed.)
//!
//! The job built this way is a `BatchJob` whose templates hold only the fields listed in
//! [`AdmittedPodSpec`], [`AdmittedContainer`] and `AdmittedVolume` (whose sources are empty). It is decided on, never written back: the
//! mutating webhook answers a patch of what defaulting wrote, all of it among those fields. A
//! rule that starts reading another field of a template must add it here, and to the template
//! of `the_admitted_reading_keeps_every_template_field_a_rule_reads`; `decide`'s
//! `every_fixture_gets_the_same_answer_from_both_readings` compares the answers of both.
//!
//! Both readings skip `metadata.managedFields`, which no rule reads and which would cost a
//! `serde_json::Value` tree on every request.

use crate::map_only::MapOnly;
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EphemeralContainer, PersistentVolumeClaimVolumeSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SecurityContext,
    Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kbatch_policy::api::{
    BatchJob, BatchJobSpec, BatchJobStatus, BatchNodeSelector, DependencyItem, IndexSpec,
    JobDependency, TaskGroup,
};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// How much of a BatchJob a decision needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// The fields admission rules read: for CREATE and DELETE.
    Admitted,
    /// Everything but `managedFields`: for UPDATE, whose rule compares whole specs.
    Whole,
}

/// Decodes `null` or a BatchJob read as `reading`.
pub(crate) fn decode_job<'de, D: Deserializer<'de>>(
    reading: Reading,
    deserializer: D,
) -> Result<Option<BatchJob>, D::Error> {
    Ok(match reading {
        Reading::Admitted => {
            Option::<JobParts<AdmittedSpec>>::deserialize(deserializer)?.map(JobParts::into_job)
        }
        Reading::Whole => {
            Option::<JobParts<BatchJobSpec>>::deserialize(deserializer)?.map(JobParts::into_job)
        }
    })
}

/// A BatchJob with its spec read as `S`. Shaped like the derived `BatchJob` (metadata and spec
/// required, status optional, apiVersion and kind not checked).
#[derive(Deserialize)]
struct JobParts<S> {
    metadata: MapOnly<AdmittedMeta>,
    spec: MapOnly<S>,
    status: Option<BatchJobStatus>,
}

impl<S: Into<BatchJobSpec>> JobParts<S> {
    fn into_job(self) -> BatchJob {
        BatchJob {
            metadata: self.metadata.0.into(),
            spec: self.spec.0.into(),
            status: self.status,
        }
    }
}

/// `ObjectMeta` without `managedFields`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmittedMeta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl From<AdmittedMeta> for ObjectMeta {
    fn from(m: AdmittedMeta) -> ObjectMeta {
        ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            managed_fields: None,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            self_link: m.self_link,
            uid: m.uid,
        }
    }
}

/// `BatchJobSpec` with admitted task groups; the same fields and defaults.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmittedSpec {
    batch_queue_name: String,
    task_groups: Vec<MapOnly<AdmittedTaskGroup>>,
    #[serde(default)]
    dependencies: Vec<MapOnly<AdmittedDependency>>,
    #[serde(default)]
    user_command: Option<String>,
    #[serde(default)]
    batch_node_selector: Option<MapOnly<BatchNodeSelector>>,
}

impl From<AdmittedSpec> for BatchJobSpec {
    fn from(spec: AdmittedSpec) -> BatchJobSpec {
        // Built without `..`: a new spec field does not compile until it is read here too.
        BatchJobSpec {
            batch_queue_name: spec.batch_queue_name,
            task_groups: spec
                .task_groups
                .into_iter()
                .map(|group| TaskGroup::from(group.0))
                .collect(),
            dependencies: spec
                .dependencies
                .into_iter()
                .map(|dependency| JobDependency::from(dependency.0))
                .collect(),
            user_command: spec.user_command,
            batch_node_selector: spec.batch_node_selector.map(|selector| selector.0),
        }
    }
}

/// `JobDependency` whose items are objects: defaulting writes each item's `type`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmittedDependency {
    #[serde(default)]
    dependency_items: Vec<MapOnly<DependencyItem>>,
}

impl From<AdmittedDependency> for JobDependency {
    fn from(dependency: AdmittedDependency) -> JobDependency {
        JobDependency {
            dependency_items: dependency
                .dependency_items
                .into_iter()
                .map(|item| item.0)
                .collect(),
        }
    }
}

/// `TaskGroup` with an admitted template.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmittedTaskGroup {
    name: String,
    #[serde(default)]
    max_wall_time: Option<String>,
    #[serde(default)]
    retry_limit: Option<i32>,
    #[serde(default)]
    index_spec: Option<MapOnly<IndexSpec>>,
    template: MapOnly<AdmittedTemplate>,
}

impl From<AdmittedTaskGroup> for TaskGroup {
    fn from(group: AdmittedTaskGroup) -> TaskGroup {
        TaskGroup {
            name: group.name,
            max_wall_time: group.max_wall_time,
            retry_limit: group.retry_limit,
            index_spec: group.index_spec.map(|index| index.0),
            template: PodTemplateSpec {
                // No rule reads the template's metadata.
                metadata: None,
                spec: group.template.0.spec.map(|pod| PodSpec::from(pod.0)),
            },
        }
    }
}

/// `PodTemplateSpec`: its spec only.
#[derive(Deserialize)]
struct AdmittedTemplate {
    spec: Option<MapOnly<AdmittedPodSpec>>,
}

/// The `PodSpec` fields admission rules read: resources, security, host namespaces, volume
/// types and claims, the restart policy, placement (node name, selector, affinity,
/// tolerations) and the service account.
/// Required fields are optional here as in k8s-openapi's decoders: absent or `null` is empty.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdmittedPodSpec {
    containers: Option<Vec<MapOnly<AdmittedContainer>>>,
    init_containers: Option<Vec<MapOnly<AdmittedContainer>>>,
    ephemeral_containers: Option<Vec<MapOnly<AdmittedContainer>>>,
    restart_policy: Option<String>,
    resources: Option<ResourceRequirements>,
    security_context: Option<PodSecurityContext>,
    host_network: Option<bool>,
    #[serde(rename = "hostPID")]
    host_pid: Option<bool>,
    #[serde(rename = "hostIPC")]
    host_ipc: Option<bool>,
    volumes: Option<Vec<AdmittedVolume>>,
    node_name: Option<String>,
    service_account_name: Option<String>,
    /// Deprecated alias of `serviceAccountName`, still honoured when alone.
    service_account: Option<String>,
    automount_service_account_token: Option<bool>,
    node_selector: Option<BTreeMap<String, String>>,
    affinity: Option<Affinity>,
    tolerations: Option<Vec<Toleration>>,
}

impl From<AdmittedPodSpec> for PodSpec {
    fn from(pod: AdmittedPodSpec) -> PodSpec {
        PodSpec {
            containers: pod
                .containers
                .unwrap_or_default()
                .into_iter()
                .map(|c| Container::from(c.0))
                .collect(),
            init_containers: pod
                .init_containers
                .map(|list| list.into_iter().map(|c| Container::from(c.0)).collect()),
            ephemeral_containers: pod.ephemeral_containers.map(|list| {
                list.into_iter()
                    .map(|c| EphemeralContainer::from(c.0))
                    .collect()
            }),
            restart_policy: pod.restart_policy,
            resources: pod.resources,
            security_context: pod.security_context,
            host_network: pod.host_network,
            host_pid: pod.host_pid,
            host_ipc: pod.host_ipc,
            volumes: pod
                .volumes
                .map(|list| list.into_iter().map(Volume::from).collect()),
            node_name: pod.node_name,
            service_account_name: pod.service_account_name,
            #[allow(deprecated)]
            service_account: pod.service_account,
            automount_service_account_token: pod.automount_service_account_token,
            node_selector: pod.node_selector,
            affinity: pod.affinity,
            tolerations: pod.tolerations,
            ..PodSpec::default()
        }
    }
}

/// Declares `AdmittedVolume`, a pod volume as rules read it, from every source of `Volume`.
macro_rules! admitted_volume {
    ($($source:ident $(as $json:literal)?),* $(,)?) => {
        /// A pod volume's name and which sources it sets: a security policy allows a volume by
        /// its sources' types, and a claim by its name, never by other content. A source set to
        /// anything but `null` is kept as its default value, so `volume.host_path.is_some()`
        /// reads as in the request; a claim is kept whole.
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct AdmittedVolume {
            name: Option<String>,
            persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
            $($(#[serde(rename = $json)])? $source: Option<IgnoredAny>,)*
        }

        impl From<AdmittedVolume> for Volume {
            fn from(volume: AdmittedVolume) -> Volume {
                // Built without `..`: a source k8s-openapi adds does not compile until listed.
                Volume {
                    name: volume.name.unwrap_or_default(),
                    persistent_volume_claim: volume.persistent_volume_claim,
                    $($source: volume.$source.map(|_| Default::default()),)*
                }
            }
        }
    };
}

admitted_volume! {
    aws_elastic_block_store, azure_disk, azure_file, cephfs, cinder, config_map, csi,
    downward_api as "downwardAPI", empty_dir, ephemeral, fc, flex_volume, flocker,
    gce_persistent_disk, git_repo, glusterfs, host_path, image, iscsi, nfs,
    photon_persistent_disk, portworx_volume, projected, quobyte, rbd,
    scale_io as "scaleIO", secret, storageos, vsphere_volume,
}

/// The fields admission rules read of a container of any of the three lists.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdmittedContainer {
    name: Option<String>,
    image: Option<String>,
    resources: Option<ResourceRequirements>,
    security_context: Option<SecurityContext>,
    ports: Option<Vec<ContainerPort>>,
    /// `Always` makes an init container a sidecar, which counts toward the pod's resources.
    restart_policy: Option<String>,
}

/// `Container` and `EphemeralContainer` share these fields but no trait.
macro_rules! from_admitted_container {
    ($($container:ty),*) => {$(
        impl From<AdmittedContainer> for $container {
            fn from(c: AdmittedContainer) -> $container {
                Self {
                    name: c.name.unwrap_or_default(),
                    image: c.image,
                    resources: c.resources,
                    security_context: c.security_context,
                    ports: c.ports,
                    restart_policy: c.restart_policy,
                    ..Self::default()
                }
            }
        }
    )*};
}

from_admitted_container!(Container, EphemeralContainer);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const READINGS: [Reading; 2] = [Reading::Admitted, Reading::Whole];

    fn read(reading: Reading, text: &str) -> Result<Option<BatchJob>, serde_json::Error> {
        decode_job(reading, &mut serde_json::Deserializer::from_str(text))
    }

    #[test]
    fn both_readings_are_the_full_job_without_managed_fields() {
        let text = r#"{"apiVersion":"kbatch.k8s.io/v1beta1","kind":"BatchJob",
            "metadata":{"name":"j","namespace":"ns","generateName":"j-","uid":"u","generation":1,
              "resourceVersion":"7","labels":{"a":"b"},"annotations":{"c":"d"},"finalizers":["f"],
              "creationTimestamp":"2026-11-22T08:52:33Z","deletionTimestamp":"2026-11-22T09:00:00Z",
              "deletionGracePeriodSeconds":0,"selfLink":"/x",
              "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"ou"}],
              "managedFields":[{"manager":"kubectl","operation":"Update","fieldsType":"FieldsV1",
                "fieldsV1":{"f:spec":{".":{}}}}]},
            "spec":{"batchQueueName":"default","userCommand":"Terminate",
              "batchNodeSelector":{"batchPreemptible":{"operator":"Equals","values":["true"]}},
              "dependencies":[{"dependencyItems":[{"names":["other"],"type":"Success"}]}],
              "taskGroups":[{"name":"g","maxWallTime":"1h","retryLimit":2,
                "indexSpec":{"taskCount":3},"template":{}}]},
            "status":{"phase":"Queued"}}"#;
        let mut full: BatchJob = serde_json::from_str(text).unwrap();
        assert!(full.metadata.managed_fields.is_some());
        full.metadata.managed_fields = None;
        for reading in READINGS {
            assert_eq!(read(reading, text).unwrap().unwrap(), full, "{reading:?}");
            assert!(read(reading, "null").unwrap().is_none(), "{reading:?}");
        }
    }

    #[test]
    fn both_readings_need_metadata_and_spec_like_the_full_job() {
        for text in [
            r#"{"spec":{"batchQueueName":"q","taskGroups":[]}}"#,
            r#"{"metadata":{}}"#,
            r#"{"metadata":{},"spec":{"taskGroups":[]}}"#,
            r#"{"metadata":{},"spec":{"batchQueueName":"q","taskGroups":[{"name":"g"}]}}"#,
        ] {
            assert!(serde_json::from_str::<BatchJob>(text).is_err(), "{text}");
            for reading in READINGS {
                assert!(read(reading, text).is_err(), "{reading:?}: {text}");
            }
        }
    }

    /// A template with every field a rule reads, and others that none does.
    const TEMPLATE: &str = r#"{"metadata":{"labels":{"app":"x"}},"spec":{
        "restartPolicy":"Never","hostNetwork":true,"hostPID":false,"hostIPC":true,
        "resources":{"limits":{"cpu":"4"}},
        "securityContext":{"runAsUser":1000,"fsGroup":2000,"supplementalGroups":[3000]},
        "volumes":[{"name":"v","hostPath":{"path":"/data"}},{"name":"w","emptyDir":{}}],
        "nodeSelector":{"disk":"ssd"},"serviceAccountName":"sa","tolerations":[{"key":"k"}],
        "nodeName":"n1","affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[
          {"weight":1,"preference":{"matchExpressions":[{"key":"zone","operator":"Exists"}]}}]}},
        "containers":[{"name":"main","image":"i:1","args":["--x"],"command":["run"],
          "env":[{"name":"A","value":"b"}],"volumeMounts":[{"name":"v","mountPath":"/v"}],
          "resources":{"requests":{"cpu":"1","memory":"1Gi"},"limits":{"nvidia.com/gpu":1}},
          "securityContext":{"privileged":true,"capabilities":{"add":["NET_ADMIN"]}},
          "ports":[{"containerPort":80,"hostPort":8080}]}],
        "initContainers":[{"name":"side","image":"s","restartPolicy":"Always",
          "resources":{"requests":{"cpu":"100m"}}}],
        "ephemeralContainers":[{"name":"debug","image":"d","targetContainerName":"main",
          "securityContext":{"runAsNonRoot":false}}]}}"#;

    fn job_with(template: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"j"}},"spec":{{"batchQueueName":"q",
                "taskGroups":[{{"name":"g","template":{template}}}]}}}}"#
        )
    }

    #[test]
    fn the_admitted_reading_keeps_every_template_field_a_rule_reads() {
        let whole = read(Reading::Whole, &job_with(TEMPLATE)).unwrap().unwrap();
        let admitted = read(Reading::Admitted, &job_with(TEMPLATE))
            .unwrap()
            .unwrap();
        let mut expected = whole.clone();
        let template = &mut expected.spec.task_groups[0].template;
        template.metadata = None;
        let pod = template.spec.as_mut().unwrap();
        let main = &mut pod.containers[0];
        main.args = None;
        main.command = None;
        main.env = None;
        main.volume_mounts = None;
        pod.ephemeral_containers.as_mut().unwrap()[0].target_container_name = None;
        // Rules read which sources a volume sets, not what they say.
        pod.volumes.as_mut().unwrap()[0].host_path = Some(Default::default());
        assert_ne!(expected, whole, "the template has fields no rule reads");
        assert_eq!(admitted, expected);
    }

    #[test]
    fn both_readings_take_an_absent_or_null_required_template_field_as_empty() {
        for template in [
            r#"{"spec":{}}"#,
            r#"{"spec":{"containers":null}}"#,
            r#"{"spec":{"containers":[{}]}}"#,
            r#"{"spec":{"containers":[{"name":null}],"initContainers":[{}]}}"#,
        ] {
            let text = job_with(template);
            let whole = read(Reading::Whole, &text).unwrap();
            assert_eq!(read(Reading::Admitted, &text).unwrap(), whole, "{template}");
        }
    }

    #[test]
    fn a_volume_reads_as_the_sources_it_sets() {
        let sources = [
            "awsElasticBlockStore",
            "azureDisk",
            "azureFile",
            "cephfs",
            "cinder",
            "configMap",
            "csi",
            "downwardAPI",
            "emptyDir",
            "ephemeral",
            "fc",
            "flexVolume",
            "flocker",
            "gcePersistentDisk",
            "gitRepo",
            "glusterfs",
            "hostPath",
            "image",
            "iscsi",
            "nfs",
            "persistentVolumeClaim",
            "photonPersistentDisk",
            "portworxVolume",
            "projected",
            "quobyte",
            "rbd",
            "scaleIO",
            "secret",
            "storageos",
            "vsphereVolume",
        ];
        let volumes = |volumes: &str| {
            let text = job_with(&format!(
                r#"{{"spec":{{"containers":[{{"name":"c"}}],"volumes":[{volumes}]}}}}"#
            ));
            READINGS.map(|reading| {
                let job = read(reading, &text).unwrap().unwrap();
                let pod = job.spec.task_groups[0].template.spec.clone().unwrap();
                pod.volumes.unwrap()
            })
        };
        // An empty source reads the same both ways, so each JSON name maps to its source.
        for source in sources {
            let [admitted, whole] = volumes(&format!(r#"{{"name":"v","{source}":{{}}}}"#));
            assert_eq!(admitted, whole, "{source}");
            assert_ne!(
                whole[0],
                Volume {
                    name: "v".into(),
                    ..Volume::default()
                },
                "{source}"
            );
        }
        let [admitted, whole] = volumes(r#"{"name":"v","hostPath":null},{"name":"w"}"#);
        assert_eq!(admitted, whole, "null is no source");
        let [admitted, _] = volumes(r#"{"name":"v","nfs":{"server":"s","path":"/p"},"secret":{}}"#);
        assert!(admitted[0].nfs.is_some() && admitted[0].secret.is_some());
        assert!(admitted[0].host_path.is_none());
    }

    #[test]
    fn the_admitted_reading_leaves_unread_fields_to_the_api_server() {
        // The CRD's schema refuses these before validating admission; the API server calls
        // the mutating webhook first, which must answer without reading them.
        for template in [
            r#"{"spec":{"containers":[{"name":"c","args":7}]}}"#,
            r#"{"spec":{"containers":[{"name":"c","env":{"A":"b"}}]}}"#,
            r#"{"spec":{"containers":[{"name":"c"}],"hostname":["x"]}}"#,
            r#"{"metadata":"x","spec":{"containers":[{"name":"c"}]}}"#,
            r#"{"spec":{"containers":[{"name":"c"}],"volumes":[{"name":"v","hostPath":"x"}]}}"#,
        ] {
            let text = job_with(template);
            assert!(read(Reading::Whole, &text).is_err(), "{template}");
            assert!(read(Reading::Admitted, &text).is_ok(), "{template}");
        }
        for template in [
            r#"{"spec":{"containers":[{"name":"c","image":7}]}}"#,
            r#"{"spec":{"containers":[{"name":"c","resources":{"requests":[]}}]}}"#,
            r#"{"spec":{"containers":[{"name":"c"}],"hostPID":"yes"}}"#,
            r#"{"spec":{"containers":[{"name":"c"}],"nodeSelector":["x"]}}"#,
            r#"{"spec":{"containers":[{"name":"c"}],"serviceAccountName":["x"]}}"#,
        ] {
            let text = job_with(template);
            for reading in READINGS {
                assert!(read(reading, &text).is_err(), "{reading:?}: {template}");
            }
        }
    }
}
