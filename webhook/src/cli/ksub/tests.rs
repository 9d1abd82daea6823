#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

fn array_job() -> BatchJob {
    let text = include_str!("../../../../tests/ksub/array.sh");
    let script = parse_script(text).unwrap();
    build_job(
        &script,
        "array.sh",
        &BuildOptions {
            namespace: Some("team-a".into()),
            ..Default::default()
        },
    )
}

/// A mocked API server that answers the first request with `status` and `reply(sent)`.
fn api_server(
    status: u16,
    reply: impl FnOnce(Value) -> Value + Send + 'static,
) -> (Client, tokio::task::JoinHandle<Value>) {
    let (service, mut handle) = mock::pair::<http::Request<Body>, http::Response<Body>>();
    let server = tokio::spawn(async move {
        let (request, send) = handle
            .next_request()
            .await
            .expect("the client sends a request");
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(
            request.uri().path(),
            "/apis/kbatch.k8s.io/v1beta1/namespaces/team-a/batchjobs"
        );
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        let sent: Value = serde_json::from_slice(&bytes).unwrap();
        let body = serde_json::to_vec(&reply(sent.clone())).unwrap();
        send.send_response(
            http::Response::builder()
                .status(status)
                .body(Body::from(body))
                .unwrap(),
        );
        sent
    });
    (Client::new(service, "default"), server)
}

#[tokio::test]
async fn the_job_is_created_and_its_generated_name_returned() {
    let (client, server) = api_server(201, |mut sent| {
        sent["metadata"]["name"] = json!("array-x7k2p");
        sent
    });
    assert_eq!(create(client, &array_job()).await.unwrap(), "array-x7k2p");
    let sent = server.await.unwrap();
    assert_eq!(sent["kind"], "BatchJob");
    assert_eq!(sent["spec"]["taskGroups"][0]["indexSpec"]["taskCount"], 10);
    let command = &sent["spec"]["taskGroups"][0]["template"]["spec"]["containers"][0]["command"];
    assert!(
        command[2].as_str().unwrap().contains("KBATCH_ARRAY_INDEX"),
        "the script travels in the job"
    );
}

#[tokio::test]
async fn a_refusal_shows_the_webhooks_message() {
    let message = "admission webhook \"validate.kbatch.k8s.io\" denied the request: BatchJob is refused: spec.taskGroups[0].maxWallTime: ...";
    let (client, server) = api_server(
        403,
        move |_| json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": "Forbidden", "code": 403}),
    );
    let error = create(client, &array_job()).await.unwrap_err();
    assert_eq!(error.to_string(), message);
    server.await.unwrap();
}
