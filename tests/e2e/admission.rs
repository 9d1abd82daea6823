//! The real decision layer behind the real server: recorded API-server requests replayed
//! over TLS, HTTP/1.1 and HTTP/2, the way the API server runs a round (mutate, apply the
//! patch, validate), against the example policy of `manifests/examples`.

use kbatch_admission::AdmissionConfig;
use kbatch_e2e::{Conn, H1, H2, certs, client_config, config, connect};
use kbatch_webhook::{PolicyReviewer, RunningServer};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture_text(n: u32) -> String {
    let path = repo().join(format!("tests/fixtures/admission/{n:03}.json"));
    std::fs::read_to_string(path).unwrap()
}

fn fixture(n: u32) -> Value {
    serde_json::from_str(&fixture_text(n)).unwrap()
}

/// Fixture `n` with `request.object` replaced by `object`, every other byte as recorded. The
/// API server writes a request's fields in its own order (`operation` before `object`), which
/// the webhook's single-pass decoding relies on; a `Value` would sort them. Objects themselves
/// are written with sorted keys, as `serde_json` writes them.
fn with_object(n: u32, object: &Value) -> String {
    let text = fixture_text(n);
    let recorded = serde_json::to_string(&fixture(n)["request"]["object"]).unwrap();
    assert_eq!(text.matches(&recorded).count(), 1, "fixture {n}'s object");
    text.replacen(&recorded, &serde_json::to_string(object).unwrap(), 1)
}

async fn start() -> (kbatch_e2e::Certs, RunningServer) {
    let docs = kbatch_manifests::read_paths(&[repo().join("manifests/examples")]).unwrap();
    let policy = kbatch_manifests::policy_set(docs.iter().filter_map(|d| d.object.as_ref().ok()));
    let reviewer = Arc::new(PolicyReviewer::new(policy, AdmissionConfig::default()));
    let certs = certs();
    let server = kbatch_webhook::bind(config(&certs), reviewer)
        .await
        .unwrap();
    (certs, server)
}

/// A verifying TLS connection to the server, speaking `alpn`.
async fn open(certs: &kbatch_e2e::Certs, server: &RunningServer, alpn: &[&[u8]]) -> Conn {
    connect(
        server.https_addr(),
        client_config(certs.files.ca_pem(), alpn),
        "localhost",
    )
    .await
    .unwrap()
}

/// POSTs a review; checks the transport and the echoed uid; returns the response object.
async fn post(conn: &mut Conn, path: &str, review: &Value) -> Value {
    let resp = conn
        .post(path, serde_json::to_vec(review).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.content_type, "application/json");
    let body: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(body["kind"], "AdmissionReview");
    assert_eq!(body["response"]["uid"], review["request"]["uid"]);
    body["response"].clone()
}

/// The JSON Patch of a response, decoded from base64 (the API server's `[]byte` encoding).
fn patch_of(response: &Value) -> Option<json_patch::Patch> {
    use base64::Engine;
    let text = response
        .get("patch")?
        .as_str()
        .expect("the patch is a base64 string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    assert_eq!(response["patchType"], "JSONPatch");
    Some(serde_json::from_slice(&bytes).unwrap())
}

/// mutate → apply the patch to the validate request's object → validate.
async fn round(conn: &mut Conn, mut mutate: Value, mut validate: Value) -> (Value, Value) {
    let mutated = post(conn, "/mutate?timeout=5s", &mutate).await;
    assert_eq!(mutated["allowed"], true, "{mutated}");
    if let Some(patch) = patch_of(&mutated) {
        json_patch::patch(&mut validate["request"]["object"], &patch).unwrap();
        json_patch::patch(&mut mutate["request"]["object"], &patch).unwrap();
    }
    let object = validate["request"]["object"].clone();
    (post(conn, "/validate?timeout=5s", &validate).await, object)
}

#[tokio::test]
async fn recorded_rounds_over_http1_and_http2() {
    let (certs, server) = start().await;
    for alpn in [H1, H2] {
        let mut conn = open(&certs, &server, alpn).await;
        // Every CREATE of the recording is admitted; the DELETE of a priority in use is not.
        for (m, v) in [
            (1, 2),
            (5, 6),
            (7, 8),
            (9, 10),
            (13, 14),
            (17, 18),
            (19, 20),
            (21, 22),
            (23, 24),
            (25, 26),
            (41, 42),
        ] {
            let (answer, _) = round(&mut conn, fixture(m), fixture(v)).await;
            assert_eq!(answer["allowed"], true, "{m:03}/{v:03}: {answer}");
        }
        let (answer, _) = round(&mut conn, fixture(37), fixture(38)).await;
        assert_eq!(answer["allowed"], false);
        assert_eq!(answer["status"]["code"], 403);
        let message = answer["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "BatchPriority \"low\" is refused: metadata.name: still in use by 4 referrers: "
            ),
            "{message}"
        );
        assert!(message.contains("BatchQueue team-a/gpu"), "{message}");
    }
}

#[tokio::test]
async fn the_returned_patch_gives_the_defaulted_job() {
    let (certs, server) = start().await;
    let mut conn = open(&certs, &server, H2).await;
    let (answer, job) = round(&mut conn, fixture(21), fixture(22)).await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(
        job["metadata"]["annotations"]["kbatch.k8s.io/submitted-by"],
        "alice"
    );
    let group = &job["spec"]["taskGroups"][0];
    assert_eq!(
        group["retryLimit"], 0,
        "the first value of RetryLimit In [0, 1, 2]"
    );
    let pod = &group["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], "0",
        "Gpu Equal 0"
    );
    // The `everyone` user context: MustRunAs ranges start at 20000, ALL dropped.
    assert_eq!(pod["securityContext"]["runAsUser"], 20000);
    assert_eq!(pod["securityContext"]["fsGroup"], 20000);
    for container in ["containers", "initContainers"] {
        let sc = &pod[container][0]["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{container}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{container}");
    }
}

/// 019/020 (render-frames, with a persistent volume) as submitted by `user`.
fn render_frames_by(user: &str) -> (Value, Value) {
    let (mut m, mut v) = (fixture(19), fixture(20));
    for review in [&mut m, &mut v] {
        review["request"]["userInfo"] =
            json!({"username": user, "groups": ["system:authenticated"]});
    }
    (m, v)
}

#[tokio::test]
async fn one_job_three_users_accepted_defaulted_refused() {
    let (certs, server) = start().await;
    let mut conn = open(&certs, &server, H1).await;
    // olga (operators: RunAsAny everywhere): accepted, her pod spec left as written.
    let (m, v) = render_frames_by("olga");
    let (answer, job) = round(&mut conn, m, v).await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(
        job["spec"]["taskGroups"][0]["template"]["spec"].get("securityContext"),
        None
    );
    // alice (everyone: MustRunAs 20000-29999): accepted once defaulted.
    let (m, v) = render_frames_by("alice");
    let (answer, job) = round(&mut conn, m, v).await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(
        job["spec"]["taskGroups"][0]["template"]["spec"]["securityContext"]["runAsUser"],
        20000
    );
    // carol (contractor: no persistent volumes): refused, naming the volume.
    let (m, v) = render_frames_by("carol");
    let (answer, _) = round(&mut conn, m, v).await;
    assert_eq!(answer["allowed"], false);
    assert_eq!(answer["status"]["code"], 403);
    let causes = answer["status"]["details"]["causes"].as_array().unwrap();
    assert!(
        causes
            .iter()
            .any(|c| c["field"] == "spec.taskGroups[0].template.spec.volumes[0]"),
        "{causes:?}"
    );
    // dave has no context of his own, but `*` covers him.
    let (m, v) = render_frames_by("dave");
    assert_eq!(round(&mut conn, m, v).await.0["allowed"], true);
}

#[tokio::test]
async fn a_user_cannot_escape_the_rules_by_naming_another_user_or_by_update() {
    let (certs, server) = start().await;
    let mut conn = open(&certs, &server, H1).await;
    // carol writes olga's name into the object: only userInfo counts.
    let (mut m, mut v) = render_frames_by("carol");
    for review in [&mut m, &mut v] {
        review["request"]["object"]["metadata"]["annotations"] =
            json!({"kbatch.k8s.io/submitted-by": "olga"});
    }
    let (answer, _) = round(&mut conn, m, v).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    // ... and cannot add a privileged container later: the spec is immutable.
    let mut update = fixture(32);
    update["request"]["userInfo"] = json!({"username": "alice", "groups": []});
    for which in ["object", "oldObject"] {
        update["request"][which]["metadata"]["annotations"] =
            json!({"kbatch.k8s.io/submitted-by": "alice"});
    }
    update["request"]["object"]["spec"]["taskGroups"][0]["template"]["spec"]["containers"][0]["securityContext"] =
        json!({"privileged": true});
    let answer = post(&mut conn, "/validate", &update).await;
    assert_eq!(answer["allowed"], false);
    assert_eq!(
        answer["status"]["details"]["causes"][0]["reason"],
        "Immutable"
    );
}

#[tokio::test]
async fn garbage_is_a_400_and_the_server_keeps_serving() {
    let (certs, server) = start().await;
    let mut conn = open(&certs, &server, H1).await;
    for body in [
        &b"{"[..],
        b"[]",
        b"{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}",
        &[0xff, 0xfe],
    ] {
        let resp = conn.post("/validate", body.to_vec()).await.unwrap();
        assert_eq!(resp.status, 400, "{}", resp.body);
        assert!(!resp.body.is_empty());
    }
    let (answer, _) = round(&mut conn, fixture(1), fixture(2)).await;
    assert_eq!(answer["allowed"], true);
}

/// `tests/bench/validate.json`, the body `make bench` sends to /validate, is fixture 020 as
/// the API server sends it after our mutating round (so it is admitted, not refused for a
/// missing submitter). It must not go stale: `KBATCH_UPDATE_BENCH_BODIES=1` rewrites it.
/// (/mutate is benchmarked with fixture 019 itself.)
#[tokio::test]
async fn the_bench_bodies_are_a_real_round() {
    let (certs, server) = start().await;
    let mut conn = open(&certs, &server, H1).await;
    let mutated = post(&mut conn, "/mutate", &fixture(19)).await;
    let mut validate = fixture(20);
    json_patch::patch(
        &mut validate["request"]["object"],
        &patch_of(&mutated).unwrap(),
    )
    .unwrap();
    let path = repo().join("tests/bench/validate.json");
    let expected = with_object(20, &validate["request"]["object"]);
    if std::env::var_os("KBATCH_UPDATE_BENCH_BODIES").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == expected,
        "tests/bench/validate.json is stale: rerun with KBATCH_UPDATE_BENCH_BODIES=1"
    );
    assert_eq!(
        post(&mut conn, "/validate", &validate).await["allowed"],
        true
    );
}
