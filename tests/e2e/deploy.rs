//! The install manifests (`kubectl apply -k manifests/` and the webhook configurations): what
//! an API server needs of them, and that they fit the binary they run.
//!
//! No cluster runs here, so these read the YAML as the API server would decode it (k8s-openapi
//! types) and check it against the server itself: the Deployment's arguments parse with the
//! real command line, and its probe paths answer on a real server.

use clap::Parser;
use http::StatusCode;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingWebhook, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kbatch_e2e::{self as common, Echo, probe};
use kbatch_webhook::GeneratedCerts;
use kbatch_webhook::cli::Cli;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn manifests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

/// Every YAML document of `path` (relative to `manifests/`), as JSON values.
fn documents(path: &str) -> Vec<Value> {
    parse(
        path,
        &std::fs::read_to_string(manifests().join(path)).unwrap(),
    )
}

fn parse(path: &str, text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// The webhook configurations as `make certs` renders them with the CA of `certs` (the
/// `CA_BUNDLE` placeholder is not base64, so the file itself does not decode).
fn rendered_webhooks(certs: &GeneratedCerts) -> Vec<Value> {
    let text = std::fs::read_to_string(manifests().join(WEBHOOKS)).unwrap();
    parse(
        WEBHOOKS,
        &text.replace("CA_BUNDLE", &certs.ca_bundle_base64()),
    )
}

/// The one document of `kind` named `name` in `path`, decoded as the API server would.
fn object<T: DeserializeOwned>(path: &str, kind: &str, name: &str) -> T {
    let found: Vec<Value> = documents(path)
        .into_iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{path}: one {kind} {name}");
    let document = found.into_iter().next().unwrap();
    serde_json::from_value(document).unwrap_or_else(|e| panic!("{path}: {kind} {name}: {e}"))
}

fn kustomization() -> Value {
    documents("kustomization.yaml").remove(0)
}

/// The YAML files below `dir` (relative to `manifests/`), as `dir/name.yaml`.
fn yaml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(manifests().join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

/// The plural resource names of the seven kinds, from the generated CRDs.
fn kbatch_resources() -> BTreeSet<String> {
    kbatch_policy::api::crds()
        .into_iter()
        .map(|crd| crd.spec.names.plural)
        .collect()
}

#[test]
fn the_kustomization_applies_every_manifest_and_each_decodes_as_its_kind() {
    let listed: BTreeSet<String> = kustomization()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let on_disk: BTreeSet<String> = ["admission", "crds", "deploy", "rbac"]
        .into_iter()
        .flat_map(yaml_files)
        .collect();
    assert_eq!(listed, on_disk, "manifests/kustomization.yaml resources");

    let certs = common::certs();
    let mut kinds = BTreeSet::new();
    let files = on_disk.iter().map(|path| (path.as_str(), documents(path)));
    for (path, documents) in files.chain([(WEBHOOKS, rendered_webhooks(&certs.files))]) {
        for document in documents {
            let kind = document["kind"].as_str().unwrap().to_owned();
            let decoded = match kind.as_str() {
                "Namespace" => decodes::<Namespace>(&document),
                "ServiceAccount" => decodes::<ServiceAccount>(&document),
                "Service" => decodes::<Service>(&document),
                "Deployment" => decodes::<Deployment>(&document),
                "PodDisruptionBudget" => decodes::<PodDisruptionBudget>(&document),
                "ClusterRole" => decodes::<ClusterRole>(&document),
                "ClusterRoleBinding" => decodes::<ClusterRoleBinding>(&document),
                "Role" => decodes::<Role>(&document),
                "RoleBinding" => decodes::<RoleBinding>(&document),
                "CustomResourceDefinition" => decodes::<CustomResourceDefinition>(&document),
                "MutatingWebhookConfiguration" => {
                    decodes::<MutatingWebhookConfiguration>(&document)
                }
                "ValidatingWebhookConfiguration" => {
                    decodes::<ValidatingWebhookConfiguration>(&document)
                }
                "ValidatingAdmissionPolicy" => decodes::<ValidatingAdmissionPolicy>(&document),
                "ValidatingAdmissionPolicyBinding" => {
                    decodes::<ValidatingAdmissionPolicyBinding>(&document)
                }
                other => Err(format!("a kind this test does not know: {other}")),
            };
            if let Err(e) = decoded {
                panic!("{path}: {kind} {}: {e}", document["metadata"]["name"]);
            }
            kinds.insert(kind);
        }
    }
    // The pieces the issue asks for are all there.
    for kind in [
        "Namespace",
        "ServiceAccount",
        "Service",
        "Deployment",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ] {
        assert!(kinds.contains(kind), "no {kind} in manifests/");
    }
}

fn decodes<T: DeserializeOwned>(document: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(document.clone())
        .map(drop)
        .map_err(|e| e.to_string())
}

const WEBHOOKS: &str = "webhook/webhook-configurations.yaml";

#[test]
fn both_webhooks_send_only_kbatch_objects_fail_closed_and_skip_system_namespaces() {
    let certs = common::certs();
    let rendered = rendered_webhooks(&certs.files);
    let kinds: Vec<&str> = rendered
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration"
        ]
    );
    // Both configurations' webhooks, read as `ValidatingWebhook`: a mutating one has the same
    // members and `reinvocationPolicy`, which no check here reads. (The kustomization test
    // decodes each configuration as its own kind.)
    let webhooks: Vec<ValidatingWebhook> = rendered
        .iter()
        .flat_map(|d| d["webhooks"].as_array().unwrap().clone())
        .map(|w| serde_json::from_value(w).unwrap())
        .collect();
    let names: Vec<&str> = webhooks.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["mutate.kbatch.k8s.io", "validate.kbatch.k8s.io"]);

    let service: Service = object("deploy/webhook.yaml", "Service", "kbatch-webhook");
    let service_port = service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port;
    for (w, path) in webhooks.iter().zip(["/mutate", "/validate"]) {
        let name = w.name.as_str();
        assert_eq!(w.admission_review_versions, ["v1"], "{name}");
        assert_eq!(w.side_effects, "None", "{name}");
        assert_eq!(w.failure_policy.as_deref(), Some("Fail"), "{name}");
        assert_eq!(w.timeout_seconds, Some(5), "{name}");
        assert_eq!(w.match_policy.as_deref(), Some("Equivalent"), "{name}");

        let selector = w.namespace_selector.as_ref().expect(name);
        let [expression] = selector.match_expressions.as_deref().unwrap() else {
            panic!("{name}: one namespace expression");
        };
        assert_eq!(expression.key, "kubernetes.io/metadata.name", "{name}");
        assert_eq!(expression.operator, "NotIn", "{name}");
        let left_out: BTreeSet<&str> = expression
            .values
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        assert_eq!(
            left_out,
            BTreeSet::from(["kbatch-system", "kube-system"]),
            "{name}"
        );

        let target = w.client_config.service.as_ref().expect(name);
        assert_eq!(
            (target.name.as_str(), target.namespace.as_str()),
            ("kbatch-webhook", "kbatch-system"),
            "{name}"
        );
        assert_eq!(target.path.as_deref(), Some(path), "{name}");
        assert_eq!(target.port, Some(service_port), "{name}");
        // Where `make certs` puts the CA that signs the serving certificate.
        assert_eq!(
            w.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice()),
            Some(certs.files.ca_pem().as_bytes()),
            "{name}"
        );

        let rules = w.rules.as_deref().unwrap_or_default();
        assert!(!rules.is_empty(), "{name}");
        for rule in rules {
            assert_eq!(
                rule.api_groups.as_deref(),
                Some(&["kbatch.k8s.io".to_owned()][..]),
                "{name}"
            );
            assert_eq!(
                rule.api_versions.as_deref(),
                Some(&["v1beta1".to_owned()][..]),
                "{name}"
            );
        }
    }

    // The validating webhook sees every write of every kind, and every status update (only the
    // controller may write status); the mutating one the creations that it defaults
    // (BatchJobs: queue defaults and the submitter; BatchBudgets: the start).
    let covered = |w: &ValidatingWebhook| -> BTreeSet<(String, String)> {
        w.rules
            .iter()
            .flatten()
            .flat_map(|r| {
                let resources = r.resources.clone().unwrap_or_default();
                let operations = r.operations.clone().unwrap_or_default();
                resources.into_iter().flat_map(move |res| {
                    operations
                        .clone()
                        .into_iter()
                        .map(move |op| (res.clone(), op))
                })
            })
            .collect()
    };
    let every_write: BTreeSet<(String, String)> = kbatch_resources()
        .into_iter()
        .flat_map(|r| {
            let status = (format!("{r}/status"), "UPDATE".to_owned());
            ["CREATE", "UPDATE", "DELETE"]
                .map(|op| (r.clone(), op.to_owned()))
                .into_iter()
                .chain([status])
        })
        .collect();
    assert_eq!(covered(&webhooks[1]), every_write);
    let created = |r: &str| (r.to_owned(), "CREATE".to_owned());
    assert_eq!(
        covered(&webhooks[0]),
        BTreeSet::from([created("batchjobs"), created("batchbudgets")])
    );
}

#[test]
fn the_webhook_only_reads_and_reads_every_kind() {
    let role: ClusterRole = object("rbac/webhook.yaml", "ClusterRole", "kbatch-webhook");
    let mut read = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        for verb in &rule.verbs {
            assert!(["get", "list", "watch"].contains(&verb.as_str()), "{verb}");
        }
        assert_eq!(
            rule.api_groups.as_deref(),
            Some(&["kbatch.k8s.io".to_owned()][..])
        );
        read.extend(rule.resources.iter().flatten().cloned());
    }
    // `serve --kube` watches all seven kinds.
    assert_eq!(read, kbatch_resources());

    let binding: ClusterRoleBinding =
        object("rbac/webhook.yaml", "ClusterRoleBinding", "kbatch-webhook");
    assert_eq!(binding.role_ref.name, "kbatch-webhook");
    let deployment = deployment("deploy/webhook.yaml", "kbatch-webhook");
    let account = pod_service_account(&deployment);
    assert!(
        binding
            .subjects
            .iter()
            .flatten()
            .any(|s| s.kind == "ServiceAccount"
                && s.name == account
                && s.namespace.as_deref() == Some("kbatch-system")),
        "bound to the Deployment's service account {account}"
    );
    let _: ServiceAccount = object("deploy/webhook.yaml", "ServiceAccount", &account);
}

fn deployment(path: &str, name: &str) -> Deployment {
    object(path, "Deployment", name)
}

fn pod_service_account(deployment: &Deployment) -> String {
    let pod = deployment.spec.template.spec.as_ref().unwrap();
    pod.service_account_name.clone().unwrap()
}

fn only_container(deployment: &Deployment) -> Container {
    let pod = deployment.spec.template.spec.as_ref().unwrap();
    let [container] = pod.containers.as_slice() else {
        panic!("one container");
    };
    container.clone()
}

/// The container's arguments as the kubelet expands them: `$(NAME)` of its environment, with
/// the downward API's values of a sample pod (IP 10.244.1.7, limits from its resources).
fn expanded_args(container: &Container) -> Vec<String> {
    let limits = container
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .unwrap_or_default();
    let mut values = Vec::new();
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(value), _) => value.clone(),
            (None, Some(from)) => {
                if let Some(field) = &from.field_ref {
                    match field.field_path.as_str() {
                        "status.podIP" => "10.244.1.7".to_owned(),
                        "metadata.name" => "kbatch-pod-0".to_owned(),
                        "metadata.namespace" => "kbatch-system".to_owned(),
                        other => panic!("{}: field {other}", var.name),
                    }
                } else if let Some(resource) = &from.resource_field_ref {
                    let name = resource.resource.strip_prefix("limits.").unwrap();
                    let quantity = &limits.get(name).unwrap().0;
                    let bytes = kbatch_policy::quantity::Quantity::parse(quantity).unwrap();
                    bytes.ceil_units().to_string()
                } else {
                    panic!("{}: an unexpected source", var.name)
                }
            }
            (None, None) => String::new(),
        };
        values.push((format!("$({})", var.name), value));
    }
    let args = container.args.clone().unwrap_or_default();
    args.into_iter()
        .map(|arg| {
            values
                .iter()
                .fold(arg, |arg, (name, value)| arg.replace(name, value))
        })
        .collect()
}

/// `--flag=value` among `args`.
fn flag<'a>(args: &'a [String], name: &str) -> &'a str {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {args:?}"))
}

#[test]
fn both_deployments_run_the_built_image_locked_down_with_arguments_the_binary_accepts() {
    let images = &kustomization()["images"][0];
    let image = format!(
        "{}:{}",
        images["name"].as_str().unwrap(),
        images["newTag"].as_str().unwrap()
    );
    for (path, name) in [
        ("deploy/webhook.yaml", "kbatch-webhook"),
        ("deploy/controller.yaml", "kbatch-controller"),
    ] {
        let deployment = deployment(path, name);
        let pod = deployment.spec.template.spec.clone().unwrap();
        let container = only_container(&deployment);
        assert_eq!(container.image.as_deref(), Some(image.as_str()), "{name}");

        let args = expanded_args(&container);
        assert!(!args.iter().any(|a| a.contains("$(")), "{name}: {args:?}");
        let argv = std::iter::once("kbatch".to_owned()).chain(args.iter().cloned());
        if let Err(e) = Cli::try_parse_from(argv) {
            panic!("{name}: kbatch {args:?}: {e}");
        }

        let pod_security = pod.security_context.unwrap();
        assert_eq!(pod_security.run_as_non_root, Some(true), "{name}");
        assert!(
            pod_security.run_as_user.is_some_and(|uid| uid != 0),
            "{name}"
        );
        let security = container.security_context.clone().unwrap();
        assert_eq!(security.read_only_root_filesystem, Some(true), "{name}");
        assert_eq!(security.allow_privilege_escalation, Some(false), "{name}");
        let dropped = security
            .capabilities
            .and_then(|c| c.drop)
            .unwrap_or_default();
        assert_eq!(dropped, ["ALL"], "{name}");

        let resources = container.resources.clone().unwrap();
        for (what, list) in [
            ("requests", resources.requests),
            ("limits", resources.limits),
        ] {
            let list = list.unwrap_or_default();
            for resource in ["cpu", "memory"] {
                assert!(list.contains_key(resource), "{name}: {what}.{resource}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_deployment_serves_where_its_service_and_probes_look() {
    let deployment = deployment("deploy/webhook.yaml", "kbatch-webhook");
    assert_eq!(deployment.spec.replicas, Some(2));
    let container = only_container(&deployment);
    let args = expanded_args(&container);
    // Both listeners bind the pod's IP.
    for listener in ["--addr", "--probe-addr"] {
        assert_eq!(
            flag(&args, listener).rsplit_once(':').unwrap().0,
            "10.244.1.7"
        );
    }
    let memory_limit = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "KBATCH_MEMORY_LIMIT");
    let source = memory_limit
        .and_then(|e| e.value_from.clone())
        .and_then(|f| f.resource_field_ref);
    assert_eq!(source.map(|r| r.resource).as_deref(), Some("limits.memory"));
    let port_of = |name: &str| -> i32 {
        container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("container port {name}"))
            .container_port
    };
    let listens_on = |addr: &str| -> i32 { addr.rsplit(':').next().unwrap().parse().unwrap() };

    // The Service sends 443 to the named port that `--addr` listens on.
    let service: Service = object("deploy/webhook.yaml", "Service", "kbatch-webhook");
    let target = service.spec.unwrap().ports.unwrap()[0].target_port.clone();
    let Some(IntOrString::String(target)) = target else {
        panic!("a named targetPort");
    };
    assert_eq!(port_of(&target), listens_on(flag(&args, "--addr")));

    // The probes look at the port `--probe-addr` listens on, at paths the server answers.
    let probes = [
        container.readiness_probe.clone().expect("readinessProbe"),
        container.liveness_probe.clone().expect("livenessProbe"),
    ];
    let (_certs, server) = common::start(Echo::ready(), |_| {}).await;
    for get in probes.iter().map(|p| p.http_get.clone().expect("httpGet")) {
        let IntOrString::String(port) = &get.port else {
            panic!("a named probe port");
        };
        assert_eq!(port_of(port), listens_on(flag(&args, "--probe-addr")));
        let path = get.path.unwrap();
        assert_eq!(
            probe(server.probe_addr(), &path).await.0,
            StatusCode::OK,
            "{path}"
        );
    }

    // The certificate and key are read from the mounted Secret.
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "tls")
        .expect("the tls mount");
    assert_eq!(mount.read_only, Some(true));
    for file in ["--tls-cert", "--tls-key"] {
        let path = Path::new(flag(&args, file));
        assert_eq!(path.parent(), Some(Path::new(&mount.mount_path)), "{file}");
    }
}

/// The opt-in NetworkPolicy selects the webhook's pods and opens exactly its two ports: HTTPS
/// to the control-plane CIDR the operator fills in, metrics to labelled namespaces.
#[test]
fn the_network_policy_opens_the_webhook_ports_to_the_api_server_only() {
    const PATH: &str = "network/webhook.yaml";
    let text = std::fs::read_to_string(manifests().join(PATH)).unwrap();
    assert!(
        text.contains("cidr: CONTROL_PLANE_CIDR"),
        "the placeholder the README names"
    );
    let [document] = parse(PATH, &text.replace("CONTROL_PLANE_CIDR", "172.18.0.0/24"))
        .try_into()
        .unwrap();
    let policy: k8s_openapi::api::networking::v1::NetworkPolicy =
        serde_json::from_value(document).unwrap();
    let spec = policy.spec.unwrap();
    let deployment = deployment("deploy/webhook.yaml", "kbatch-webhook");
    let pod_labels = deployment
        .spec
        .template
        .metadata
        .clone()
        .unwrap()
        .labels
        .unwrap();
    for (key, value) in spec.pod_selector.unwrap().match_labels.unwrap() {
        assert_eq!(pod_labels.get(&key), Some(&value), "{key}");
    }
    assert_eq!(
        spec.policy_types.as_deref(),
        Some(&["Ingress".to_owned()][..])
    );
    let container = only_container(&deployment);
    let container_ports: BTreeSet<i32> = container
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect();
    let mut opened = BTreeSet::new();
    for rule in spec.ingress.unwrap() {
        let [port] = rule.ports.unwrap().try_into().unwrap();
        let Some(IntOrString::Int(port)) = port.port else {
            panic!("a numbered port");
        };
        let [peer] = rule.from.unwrap().try_into().unwrap();
        match port {
            8443 => assert_eq!(peer.ip_block.unwrap().cidr, "172.18.0.0/24"),
            8080 => assert!(peer.namespace_selector.is_some() && peer.ip_block.is_none()),
            other => panic!("port {other} opened"),
        }
        opened.insert(port);
    }
    assert_eq!(opened, container_ports);
}
