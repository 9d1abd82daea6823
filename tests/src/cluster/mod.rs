//! A real Kubernetes control plane for the cluster tests, as envtest runs one: etcd,
//! kube-apiserver (RBAC on, client certificates from [`pki`]), kube-controller-manager (the
//! Job and garbage-collector controllers among the defaults) and kube-scheduler, from the
//! directory `KUBEBUILDER_ASSETS` names; then kbatch as a user installs it: the CRDs and RBAC
//! of `manifests/`, `kbatch serve --kube` registered with the shipped webhook configurations
//! (by `url:`, as the API server cannot reach Services here), and `kbatch controller` running
//! as its own service account with the shipped ClusterRole; and a [`kubelet::Kubelet`] that
//! plays the nodes.
//!
//! Everything runs on loopback, on free ports, under one work directory; dropping the
//! [`Cluster`] stops every process (see [`process`]). Set `KBATCH_E2E_KEEP=1` to keep the work
//! directory (logs, kubeconfigs of every identity) after the run.

pub mod install;
pub mod kubelet;
pub mod pki;
pub mod process;
pub mod wait;

use anyhow::Context;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use kubelet::{FakeNode, Kubelet};
use pki::Authority;
use process::Process;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// The binaries the control plane needs, as envtest names them.
pub const BINARIES: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// The practitioners' group; [`Cluster::namespace`] binds it to `kbatch-practitioner`.
pub const PRACTITIONERS: &str = "dev-team";
/// The controller's service account, as the API server names its user.
pub const CONTROLLER_USER: &str = "system:serviceaccount:kbatch-system:kbatch-controller";
/// The lease identity (`POD_NAME`) of the controller the harness starts.
pub const CONTROLLER_IDENTITY: &str = "kbatch-controller-e2e";
/// The webhook's service account, as the API server names its user.
pub const WEBHOOK_USER: &str = "system:serviceaccount:kbatch-system:kbatch-webhook";
const SERVICE_ACCOUNT_GROUPS: [&str; 2] = [
    "system:serviceaccounts",
    "system:serviceaccounts:kbatch-system",
];

/// The directory of the control-plane binaries, or why the cluster tests cannot run.
pub fn assets() -> Result<PathBuf, String> {
    let Some(dir) = std::env::var_os("KUBEBUILDER_ASSETS").filter(|d| !d.is_empty()) else {
        return Err(
            "KUBEBUILDER_ASSETS is not set (see README: Testing on a real control plane)".into(),
        );
    };
    let dir = PathBuf::from(dir);
    let missing: Vec<&str> = BINARIES
        .iter()
        .copied()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(format!(
            "KUBEBUILDER_ASSETS={} lacks {}",
            dir.display(),
            missing.join(", ")
        ))
    }
}

/// The `kbatch` binary the cluster runs: `KBATCH_BIN`, else the one cargo built beside this
/// test binary (`make e2e` builds it first).
pub fn kbatch_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KBATCH_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> → target/<profile>/kbatch
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("kbatch"))
        .context("locating the target directory")?;
    anyhow::ensure!(
        candidate.is_file(),
        "{} not found: build it first (cargo build --bin kbatch) or set KBATCH_BIN",
        candidate.display()
    );
    Ok(candidate)
}

/// The repository's `manifests/` directory.
pub fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

/// The running control plane, kbatch installed on it, and the simulated nodes.
pub struct Cluster {
    /// The runtime every client and the kubelet run on; tests enter it with [`Cluster::run`].
    runtime: tokio::runtime::Runtime,
    work: PathBuf,
    ca: Authority,
    kbatch: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    control_plane: Mutex<Vec<Process>>,
    webhook: Mutex<Option<Process>>,
    controller: Mutex<Option<Process>>,
    webhook_port: u16,
    webhook_probe_port: u16,
    /// Where the controller serves /healthz, /readyz and /metrics.
    controller_probe_port: u16,
    /// A cluster administrator (group `system:masters`).
    pub admin: Client,
    /// The simulated kubelet of every fake node.
    pub kubelet: Kubelet,
    /// Scenarios that change the shared installation (stop the webhook) take it exclusively.
    installation: RwLock<()>,
    namespaces: AtomicU32,
    clients: AtomicU32,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("work", &self.work)
            .finish_non_exhaustive()
    }
}

/// The fake nodes every run starts with: two plain nodes, one with NVIDIA T4s, two
/// preemptible VMs (one with T4s).
pub fn default_nodes() -> Vec<FakeNode> {
    vec![
        FakeNode::named("standard-0"),
        FakeNode::named("standard-1"),
        FakeNode::named("t4-0").gpu("nvidia-tesla-t4", 8),
        FakeNode::named("spot-0").preemptible(),
        FakeNode::named("spot-t4-0")
            .gpu("nvidia-tesla-t4", 8)
            .preemptible(),
    ]
}

/// The flags the controller manager and the scheduler share: who they are (one kubeconfig
/// for the API, authentication and authorization), where they serve, no leader election.
fn component_args(kubeconfig: &Path, port: u16) -> Vec<String> {
    let kubeconfig = kubeconfig.display();
    vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        "--leader-elect=false".into(),
    ]
}

fn kubeconfig(server: &str, ca: &Path, pair: &pki::Pair) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    \
         certificate-authority: {}\nusers:\n- name: e2e\n  user:\n    client-certificate: {}\n    \
         client-key: {}\ncontexts:\n- name: e2e\n  context: {{cluster: e2e, user: e2e}}\n\
         current-context: e2e\n",
        ca.display(),
        pair.cert.display(),
        pair.key.display()
    )
}

async fn client_from(path: &Path) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cluster {
    /// Starts the control plane from `assets` and installs kbatch on it.
    pub fn start(assets: &Path) -> anyhow::Result<Cluster> {
        process::reap_stale();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let work = process::runs_root().join(format!(
            "run-{}-{}",
            jiff::Timestamp::now().as_second(),
            std::process::id()
        ));
        std::fs::create_dir_all(&work)?;
        let ca = Authority::new(&work, "ca")?;
        let front_proxy = Authority::new(&work, "front-proxy-ca")?;
        let front_proxy_client =
            front_proxy.client(&work, "front-proxy-client", "front-proxy-client", &[])?;
        let serving = ca.server(&work, "apiserver", &["127.0.0.1", "localhost"])?;
        let (sa_key, sa_pub) = pki::service_account_keys(&work)?;
        let etcd_port = process::free_port()?;
        let etcd_peer = process::free_port()?;
        let api_port = process::free_port()?;
        let server = format!("https://127.0.0.1:{api_port}");
        let mut processes = Vec::new();
        let s = |p: &Path| p.display().to_string();

        let etcd = Process::spawn(
            &work,
            "etcd",
            &assets.join("etcd"),
            &[
                "--name=local".into(),
                format!("--data-dir={}", s(&work.join("etcd-data"))),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
            &[],
        )?;
        processes.push(etcd);
        runtime.block_on(process::wait_for_port(etcd_port, Duration::from_secs(30)))?;

        let apiserver = Process::spawn(
            &work,
            "kube-apiserver",
            &assets.join("kube-apiserver"),
            &[
                format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={api_port}"),
                format!("--tls-cert-file={}", s(&serving.cert)),
                format!("--tls-private-key-file={}", s(&serving.key)),
                format!("--client-ca-file={}", s(&ca.pair.cert)),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", s(&sa_pub)),
                format!("--service-account-signing-key-file={}", s(&sa_key)),
                "--authorization-mode=RBAC".into(),
                "--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook"
                    .into(),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--endpoint-reconciler-type=none".into(),
                "--allow-privileged=true".into(),
                format!(
                    "--requestheader-client-ca-file={}",
                    s(&front_proxy.pair.cert)
                ),
                "--requestheader-allowed-names=front-proxy-client".into(),
                "--requestheader-username-headers=X-Remote-User".into(),
                "--requestheader-group-headers=X-Remote-Group".into(),
                "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
                format!("--proxy-client-cert-file={}", s(&front_proxy_client.cert)),
                format!("--proxy-client-key-file={}", s(&front_proxy_client.key)),
            ],
            &[],
        )?;
        processes.push(apiserver);

        let identity = |file: &str, user: &str, groups: &[&str]| -> anyhow::Result<PathBuf> {
            let pair = ca.client(&work, file, user, groups)?;
            let path = work.join(format!("{file}.kubeconfig"));
            std::fs::write(&path, kubeconfig(&server, &ca.pair.cert, &pair))?;
            Ok(path)
        };
        let admin_config = identity("admin", "kbatch-e2e-admin", &["system:masters"])?;
        let kcm_config = identity(
            "kube-controller-manager",
            "system:kube-controller-manager",
            &[],
        )?;
        let scheduler_config = identity("kube-scheduler", "system:kube-scheduler", &[])?;
        let controller_config = identity(
            "kbatch-controller",
            CONTROLLER_USER,
            &SERVICE_ACCOUNT_GROUPS,
        )?;
        // Written to the work directory, where start_webhook finds it.
        identity("kbatch-webhook", WEBHOOK_USER, &SERVICE_ACCOUNT_GROUPS)?;

        let admin = runtime.block_on(client_from(&admin_config))?;
        let ready = runtime.block_on(wait::until(
            "the API server's /readyz",
            Duration::from_secs(60),
            || async {
                let request = http::Request::get("/readyz").body(Vec::new())?;
                Ok(match admin.request_text(request).await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(e.to_string()),
                })
            },
        ));
        if let Err(e) = ready {
            let log = process::tail(&work.join("kube-apiserver.log"), 30);
            return Err(e.context(format!("kube-apiserver log:\n{log}")));
        }

        let kcm_port = process::free_port()?;
        let mut kcm = component_args(&kcm_config, kcm_port);
        kcm.extend([
            "--controllers=*".into(),
            "--use-service-account-credentials=true".into(),
            format!("--service-account-private-key-file={}", s(&sa_key)),
            format!("--root-ca-file={}", s(&ca.pair.cert)),
            format!("--cluster-signing-cert-file={}", s(&ca.pair.cert)),
            format!("--cluster-signing-key-file={}", s(&ca.pair.key)),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            // The defaults (20 requests a second, bursts of 30) make the Job controller the
            // slowest part of the bench; a production control plane gives it more.
            "--kube-api-qps=200".into(),
            "--kube-api-burst=400".into(),
            // No kubelet heartbeats: the fake nodes must never be marked unreachable.
            "--node-monitor-grace-period=87600h".into(),
            "--node-startup-grace-period=87600h".into(),
        ]);
        let kcm_binary = assets.join("kube-controller-manager");
        processes.push(Process::spawn(
            &work,
            "kube-controller-manager",
            &kcm_binary,
            &kcm,
            &[],
        )?);
        let scheduler = component_args(&scheduler_config, process::free_port()?);
        let scheduler_binary = assets.join("kube-scheduler");
        processes.push(Process::spawn(
            &work,
            "kube-scheduler",
            &scheduler_binary,
            &scheduler,
            &[],
        )?);

        // webhook.crt and webhook.key, for start_webhook.
        ca.server(&work, "webhook", &["127.0.0.1", "localhost"])?;
        let kubelet = runtime.block_on(async { Kubelet::start(admin.clone()) });
        let cluster = Cluster {
            kbatch: kbatch_binary()?,
            server,
            control_plane: Mutex::new(processes),
            webhook: Mutex::new(None),
            controller: Mutex::new(None),
            webhook_port: process::free_port()?,
            webhook_probe_port: process::free_port()?,
            controller_probe_port: process::free_port()?,
            admin,
            kubelet,
            installation: RwLock::new(()),
            namespaces: AtomicU32::new(0),
            clients: AtomicU32::new(0),
            runtime,
            ca,
            work,
        };
        cluster.run(cluster.install())?;
        cluster.start_webhook()?;
        cluster.run(cluster.register_webhooks())?;
        cluster.start_controller(&controller_config)?;
        cluster.run(async {
            for node in default_nodes() {
                cluster.kubelet.add_node(&node).await?;
            }
            anyhow::Ok(())
        })?;
        Ok(cluster)
    }

    /// Runs `future` on the cluster's runtime (every client lives there).
    pub fn run<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// The work directory (logs, kubeconfigs).
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// A client authenticated as `user` in `groups` (a client certificate from the cluster's
    /// CA, as `kubectl --kubeconfig` of that user would be).
    pub async fn client_as(&self, user: &str, groups: &[&str]) -> anyhow::Result<Client> {
        // One file per client: scenarios running at once may each make one for `alice`.
        let n = self.clients.fetch_add(1, Ordering::Relaxed);
        let file = format!("user-{}-{n}", user.replace([':', '/'], "_"));
        let pair = self.ca.client(&self.work, &file, user, groups)?;
        let path = self.work.join(format!("{file}.kubeconfig"));
        std::fs::write(&path, kubeconfig(&self.server, &self.ca.pair.cert, &pair))?;
        client_from(&path).await
    }

    /// A practitioner of the `dev-team` group.
    pub async fn practitioner(&self, user: &str) -> anyhow::Result<Client> {
        self.client_as(user, &[PRACTITIONERS]).await
    }

    /// A namespace administrator of `namespace`: `user` bound to the built-in `admin`
    /// ClusterRole there, as a platform team gives a team lead.
    pub async fn namespace_admin(&self, namespace: &str, user: &str) -> anyhow::Result<Client> {
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": format!("admin-{user}"), "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        }))?;
        Api::<RoleBinding>::namespaced(self.admin.clone(), namespace)
            .create(&PostParams::default(), &binding)
            .await?;
        let client = self.client_as(user, &[]).await?;
        // RBAC reads bindings from a cache, and the admin role's kbatch rules are aggregated
        // by a controller: wait until both show, or an attack would be refused for nothing.
        wait::until(
            &format!("{user} to be an admin of {namespace} who may create BatchJobs"),
            Duration::from_secs(60),
            || async {
                Ok(
                    if can(&client, namespace, "kbatch.k8s.io", "batchjobs", "create").await? {
                        Ok(())
                    } else {
                        Err("not yet".to_owned())
                    },
                )
            },
        )
        .await?;
        Ok(client)
    }

    /// Holds the shared installation unchanged while a scenario runs (shared with others).
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.installation
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds the installation for a scenario that changes it (stops the webhook): waits for
    /// every other scenario to finish.
    pub fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.installation
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A new namespace `<prefix>-<n>` whose `dev-team` members are practitioners
    /// (`kbatch-practitioner` bound by a RoleBinding, as `manifests/rbac/users.yaml` says).
    pub async fn namespace(&self, prefix: &str) -> anyhow::Result<String> {
        let n = self.namespaces.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{n}");
        self.create_namespace(&name).await?;
        Ok(name)
    }

    /// Creates namespace `name` with the practitioners' RoleBinding.
    pub async fn create_namespace(&self, name: &str) -> anyhow::Result<()> {
        let namespaces: Api<Namespace> = Api::all(self.admin.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        namespaces.create(&PostParams::default(), &ns).await?;
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "kbatch-practitioners", "namespace": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "kbatch-practitioner"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                "name": PRACTITIONERS}]
        }))?;
        Api::<RoleBinding>::namespaced(self.admin.clone(), name)
            .create(&PostParams::default(), &binding)
            .await?;
        Ok(())
    }

    async fn install(&self) -> anyhow::Result<()> {
        let manifests = manifests_dir();
        let crds = install::file(&manifests.join("crds/kbatch.k8s.io.yaml"))?;
        install::apply_all(&self.admin, &crds, None).await?;
        install::apply_all(
            &self.admin,
            &install::file(&manifests.join("deploy/namespace.yaml"))?,
            None,
        )
        .await?;
        for file in [
            "rbac/webhook.yaml",
            "rbac/controller.yaml",
            "rbac/users.yaml",
            "admission/system-namespaces-policy.yaml",
        ] {
            install::apply_all(&self.admin, &install::file(&manifests.join(file))?, None).await?;
        }
        // The Deployments' service accounts (the Deployments themselves need a real kubelet).
        for deploy in ["deploy/webhook.yaml", "deploy/controller.yaml"] {
            let accounts: Vec<Value> = install::file(&manifests.join(deploy))?
                .into_iter()
                .filter(|d| d["kind"] == "ServiceAccount")
                .collect();
            install::apply_all(&self.admin, &accounts, None).await?;
        }
        // Practitioners may read the cluster-scoped policy objects.
        install::apply(
            &self.admin,
            &json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "kbatch-practitioners"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "kbatch-practitioner-cluster"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                    "name": PRACTITIONERS}]
            }),
            None,
        )
        .await?;
        // Every CRD established before anything watches its kind.
        for crd in &crds {
            let kind = crd["spec"]["names"]["kind"].as_str().unwrap_or_default();
            let group = crd["spec"]["group"].as_str().unwrap_or_default();
            let probe = json!({"apiVersion": format!("{group}/v1beta1"), "kind": kind});
            wait::until(
                &format!("CRD {kind} to be served"),
                Duration::from_secs(30),
                || async {
                    Ok(install::api_for(&self.admin, &probe, None)
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("{e:#}")))
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The shipped webhook configurations, sent to `url:`s on loopback with the test CA.
    pub fn rendered_webhooks(&self, port: u16) -> anyhow::Result<Vec<Value>> {
        let mut configurations =
            install::file(&manifests_dir().join("webhook/webhook-configurations.yaml"))?;
        let bundle = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            self.ca.pair.cert_pem.as_bytes(),
        );
        for configuration in &mut configurations {
            for webhook in configuration["webhooks"]
                .as_array_mut()
                .context("webhook configuration without webhooks")?
            {
                let path = webhook["clientConfig"]["service"]["path"]
                    .as_str()
                    .context("webhook without a service path")?
                    .to_owned();
                webhook["clientConfig"] = json!({
                    "url": format!("https://127.0.0.1:{port}{path}"),
                    "caBundle": bundle,
                });
            }
        }
        Ok(configurations)
    }

    /// Registers the webhook configurations with the API server (again).
    pub async fn register_webhooks(&self) -> anyhow::Result<()> {
        let configurations = self.rendered_webhooks(self.webhook_port)?;
        install::apply_all(&self.admin, &configurations, None).await
    }

    /// Removes the webhook configurations: the API server then admits kbatch objects
    /// without the webhook (for the benchmark's baseline).
    pub async fn unregister_webhooks(&self) -> anyhow::Result<()> {
        use k8s_openapi::api::admissionregistration::v1::{
            MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
        };
        for configuration in self.rendered_webhooks(self.webhook_port)? {
            let name = configuration["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            let params = kube::api::DeleteParams::default();
            match configuration["kind"].as_str() {
                Some("MutatingWebhookConfiguration") => {
                    Api::<MutatingWebhookConfiguration>::all(self.admin.clone())
                        .delete(name, &params)
                        .await?;
                }
                Some("ValidatingWebhookConfiguration") => {
                    Api::<ValidatingWebhookConfiguration>::all(self.admin.clone())
                        .delete(name, &params)
                        .await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The controller process's pid, while it runs.
    pub fn controller_pid(&self) -> Option<u32> {
        lock(&self.controller).as_ref().map(Process::id)
    }

    /// Starts `kbatch serve --kube` as the webhook's service account, with the serving pair
    /// made at start-up, and waits until it is ready.
    fn start_webhook(&self) -> anyhow::Result<()> {
        let kubeconfig = self.work.join("kbatch-webhook.kubeconfig");
        let (cert, key) = (self.work.join("webhook.crt"), self.work.join("webhook.key"));
        let process = Process::spawn(
            &self.work,
            "kbatch-webhook",
            &self.kbatch,
            &[
                "serve".into(),
                "--kube".into(),
                format!("--addr=127.0.0.1:{}", self.webhook_port),
                format!("--probe-addr=127.0.0.1:{}", self.webhook_probe_port),
                format!("--tls-cert={}", cert.display()),
                format!("--tls-key={}", key.display()),
            ],
            &[
                ("KUBECONFIG", kubeconfig.display().to_string()),
                ("RUST_LOG", "info".to_owned()),
            ],
        )?;
        *lock(&self.webhook) = Some(process);
        let probe_port = self.webhook_probe_port;
        self.run(wait::until(
            "the webhook's /readyz",
            Duration::from_secs(60),
            || async move { Ok(probe_ready(probe_port).await) },
        ))
        .map_err(|e| e.context(format!("webhook log:\n{}", self.webhook_log(30))))
    }

    fn start_controller(&self, kubeconfig: &Path) -> anyhow::Result<()> {
        let process = self.spawn_controller(
            kubeconfig,
            "kbatch-controller",
            CONTROLLER_IDENTITY,
            self.controller_probe_port,
        )?;
        *lock(&self.controller) = Some(process);
        Ok(())
    }

    /// A `kbatch controller` process named `name` in the logs, holding the lease as `identity`.
    fn spawn_controller(
        &self,
        kubeconfig: &Path,
        name: &str,
        identity: &str,
        probe_port: u16,
    ) -> anyhow::Result<Process> {
        // Benchmarks tune the controller with these (e.g. `--max-concurrent-reconciles=16`,
        // `RUST_LOG=info`); the tests run it as shipped, with its debug log.
        let mut args = vec![
            "controller".to_owned(),
            format!("--probe-addr=127.0.0.1:{probe_port}"),
        ];
        let extra = std::env::var("KBATCH_CONTROLLER_FLAGS").unwrap_or_default();
        args.extend(extra.split_whitespace().map(str::to_owned));
        let log = std::env::var("KBATCH_CONTROLLER_LOG")
            .unwrap_or_else(|_| "info,kbatch_controller=debug".to_owned());
        Process::spawn(
            &self.work,
            name,
            &self.kbatch,
            &args,
            &[
                ("KUBECONFIG", kubeconfig.display().to_string()),
                ("POD_NAMESPACE", "kbatch-system".to_owned()),
                ("POD_NAME", identity.to_owned()),
                ("RUST_LOG", log),
            ],
        )
    }

    /// A second controller replica, `identity`, whose probes are on `probe_port` and whose
    /// log is `<identity>.log` (for failover tests; dropping it kills it).
    pub fn start_standby_controller(
        &self,
        identity: &str,
        probe_port: u16,
    ) -> anyhow::Result<Process> {
        let kubeconfig = self.work.join("kbatch-controller.kubeconfig");
        self.spawn_controller(&kubeconfig, identity, identity, probe_port)
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, `KILL`) to the controller process.
    pub fn signal_controller(&self, signal: &str) -> anyhow::Result<()> {
        match lock(&self.controller).as_ref() {
            Some(process) => process.signal(signal),
            None => anyhow::bail!("no controller process"),
        }
    }

    /// Starts the controller again (after it exited or was killed), and waits until it leads
    /// and has listed everything (its /readyz).
    pub fn restart_controller(&self) -> anyhow::Result<()> {
        if let Some(mut old) = lock(&self.controller).take() {
            old.stop();
        }
        self.start_controller(&self.work.join("kbatch-controller.kubeconfig"))?;
        let port = self.controller_probe_port;
        self.run(wait::until(
            "the restarted controller's /readyz",
            Duration::from_secs(60),
            || async move { Ok(probe_ready(port).await) },
        ))
        .map_err(|e| e.context(format!("controller log:\n{}", self.controller_log(30))))
    }

    /// Whether `/readyz` on `port` answers 200.
    pub async fn ready_on(&self, port: u16) -> bool {
        probe_ready(port).await.is_ok()
    }

    /// Stops the webhook process (SIGKILL): the API server then finds nobody at its URL.
    pub fn stop_webhook(&self) {
        if let Some(mut webhook) = lock(&self.webhook).take() {
            webhook.stop();
        }
    }

    /// Starts the webhook again after [`Cluster::stop_webhook`], and waits until it is ready.
    pub fn restart_webhook(&self) -> anyhow::Result<()> {
        self.start_webhook()
    }

    /// The last `lines` of the webhook's log.
    pub fn webhook_log(&self, lines: usize) -> String {
        process::tail(&self.work.join("kbatch-webhook.log"), lines)
    }

    /// Where the controller serves /healthz, /readyz and /metrics.
    pub fn controller_probe_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.controller_probe_port))
    }

    /// The last `lines` of the controller's log.
    pub fn controller_log(&self, lines: usize) -> String {
        process::tail(&self.work.join("kbatch-controller.log"), lines)
    }

    /// Whether the controller process is still running.
    pub fn controller_running(&self) -> bool {
        lock(&self.controller)
            .as_mut()
            .is_some_and(Process::running)
    }
}

/// Whether `client` may `verb` `resource` of `group` in `namespace` (a SelfSubjectAccessReview,
/// as `kubectl auth can-i` asks).
pub async fn can(
    client: &Client,
    namespace: &str,
    group: &str,
    resource: &str,
    verb: &str,
) -> anyhow::Result<bool> {
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({
        "spec": {"resourceAttributes": {"namespace": namespace, "group": group,
            "resource": resource, "verb": verb}}
    }))?;
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// Whether `GET /readyz` on the plain-HTTP probe port answers 200.
async fn probe_ready(port: u16) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    if answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(answer.lines().next().unwrap_or_default().to_owned())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kubelet.stop();
        lock(&self.controller).take();
        lock(&self.webhook).take();
        // Stop in reverse order of start: the scheduler and controllers before the API server,
        // the API server before etcd.
        let mut processes = std::mem::take(&mut *lock(&self.control_plane));
        while let Some(mut p) = processes.pop() {
            p.stop();
        }
        if std::env::var_os("KBATCH_E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}
