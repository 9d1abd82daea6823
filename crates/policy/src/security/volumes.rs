//! Volume types: the names a security policy's `volumes` lists (PodSecurityPolicy's `FSType`s)
//! and the type of a pod's volume.

use k8s_openapi::api::core::v1::Volume;

/// Whether a volume uses one particular source.
type Uses = fn(&Volume) -> bool;

/// Every volume source of a pod volume: its type name in a policy, and whether a volume uses it.
/// Read field by field: this runs for every volume of every admitted job.
const SOURCES: [(&str, Uses); 30] = [
    ("awsElasticBlockStore", |v| {
        v.aws_elastic_block_store.is_some()
    }),
    ("azureDisk", |v| v.azure_disk.is_some()),
    ("azureFile", |v| v.azure_file.is_some()),
    // PodSecurityPolicy spells the type `cephFS`; the volume field is `cephfs`.
    ("cephFS", |v| v.cephfs.is_some()),
    ("cinder", |v| v.cinder.is_some()),
    ("configMap", |v| v.config_map.is_some()),
    ("csi", |v| v.csi.is_some()),
    ("downwardAPI", |v| v.downward_api.is_some()),
    ("emptyDir", |v| v.empty_dir.is_some()),
    ("ephemeral", |v| v.ephemeral.is_some()),
    ("fc", |v| v.fc.is_some()),
    ("flexVolume", |v| v.flex_volume.is_some()),
    ("flocker", |v| v.flocker.is_some()),
    ("gcePersistentDisk", |v| v.gce_persistent_disk.is_some()),
    ("gitRepo", |v| v.git_repo.is_some()),
    ("glusterfs", |v| v.glusterfs.is_some()),
    ("hostPath", |v| v.host_path.is_some()),
    ("image", |v| v.image.is_some()),
    ("iscsi", |v| v.iscsi.is_some()),
    ("nfs", |v| v.nfs.is_some()),
    ("persistentVolumeClaim", |v| {
        v.persistent_volume_claim.is_some()
    }),
    ("photonPersistentDisk", |v| {
        v.photon_persistent_disk.is_some()
    }),
    ("portworxVolume", |v| v.portworx_volume.is_some()),
    ("projected", |v| v.projected.is_some()),
    ("quobyte", |v| v.quobyte.is_some()),
    ("rbd", |v| v.rbd.is_some()),
    ("scaleIO", |v| v.scale_io.is_some()),
    ("secret", |v| v.secret.is_some()),
    ("storageos", |v| v.storageos.is_some()),
    ("vsphereVolume", |v| v.vsphere_volume.is_some()),
];

/// Whether a security policy may list `name` in `volumes`: a volume type, or `*` for all.
///
/// ```
/// use kbatch_policy::security::is_volume_type;
/// assert!(is_volume_type("persistentVolumeClaim"));
/// assert!(is_volume_type("cephFS"));
/// assert!(!is_volume_type("cephfs"));
/// ```
pub fn is_volume_type(name: &str) -> bool {
    name == "*" || SOURCES.iter().any(|(type_name, _)| *type_name == name)
}

/// The volume's types: those of its sources, or `emptyDir` when it names none, as the API
/// server defaults it. The API server allows one source per volume in a pod, but not inside a
/// BatchJob's open pod template: every source is reported, so none escapes the policy.
pub(crate) fn volume_types(volume: &Volume) -> impl Iterator<Item = &'static str> {
    let mut used = SOURCES
        .iter()
        .filter(|(_, uses)| uses(volume))
        .map(|(type_name, _)| *type_name)
        .peekable();
    let none = used.peek().is_none();
    used.chain(none.then_some("emptyDir"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A volume with every source set, written without `..Default::default()` so that a source
    /// added to k8s-openapi fails to compile here until the table knows it.
    fn every_source() -> Volume {
        Volume {
            name: "all".into(),
            aws_elastic_block_store: Some(Default::default()),
            azure_disk: Some(Default::default()),
            azure_file: Some(Default::default()),
            cephfs: Some(Default::default()),
            cinder: Some(Default::default()),
            config_map: Some(Default::default()),
            csi: Some(Default::default()),
            downward_api: Some(Default::default()),
            empty_dir: Some(Default::default()),
            ephemeral: Some(Default::default()),
            fc: Some(Default::default()),
            flex_volume: Some(Default::default()),
            flocker: Some(Default::default()),
            gce_persistent_disk: Some(Default::default()),
            git_repo: Some(Default::default()),
            glusterfs: Some(Default::default()),
            host_path: Some(Default::default()),
            image: Some(Default::default()),
            iscsi: Some(Default::default()),
            nfs: Some(Default::default()),
            persistent_volume_claim: Some(Default::default()),
            photon_persistent_disk: Some(Default::default()),
            portworx_volume: Some(Default::default()),
            projected: Some(Default::default()),
            quobyte: Some(Default::default()),
            rbd: Some(Default::default()),
            scale_io: Some(Default::default()),
            secret: Some(Default::default()),
            storageos: Some(Default::default()),
            vsphere_volume: Some(Default::default()),
        }
    }

    /// Each source's JSON field and a value of it, from the volume's own serialisation.
    fn source_fields() -> Vec<(String, serde_json::Value)> {
        let serde_json::Value::Object(fields) = serde_json::to_value(every_source()).unwrap()
        else {
            panic!("a volume serialises to an object")
        };
        fields.into_iter().filter(|(k, _)| k != "name").collect()
    }

    #[test]
    fn every_source_has_a_type_named_after_its_field() {
        let fields = source_fields();
        assert_eq!(fields.len(), SOURCES.len());
        for (field, source) in fields {
            // A volume with only this source, decoded from JSON as the API server sends it.
            let volume: Volume =
                serde_json::from_value(serde_json::json!({"name": "v", field.as_str(): source}))
                    .unwrap_or_else(|e| panic!("{field}: {e}"));
            let expected = if field == "cephfs" { "cephFS" } else { &field };
            assert_eq!(
                volume_types(&volume).collect::<Vec<_>>(),
                [expected],
                "{field}"
            );
            assert!(is_volume_type(expected), "{field}");
        }
    }

    #[test]
    fn a_volume_without_a_source_is_an_empty_dir() {
        let volume = Volume {
            name: "scratch".into(),
            ..Default::default()
        };
        assert_eq!(volume_types(&volume).collect::<Vec<_>>(), ["emptyDir"]);
    }

    #[test]
    fn a_volume_with_two_sources_has_both_types() {
        let volume: Volume = serde_json::from_value(serde_json::json!({
            "name": "sneaky",
            "configMap": {"name": "settings"},
            "hostPath": {"path": "/"},
        }))
        .unwrap();
        assert_eq!(
            volume_types(&volume).collect::<Vec<_>>(),
            ["configMap", "hostPath"]
        );
    }

    #[test]
    fn policy_names_are_types_or_the_wildcard() {
        for (name, expected) in [
            ("*", true),
            ("hostPath", true),
            ("awsElasticBlockStore", true),
            ("vsphereVolume", true),
            ("cephfs", false),
            ("HostPath", false),
            ("", false),
            ("name", false),
        ] {
            assert_eq!(is_volume_type(name), expected, "{name:?}");
        }
    }
}
