# kbatch — the two commands a newcomer needs are `make run` and `make test`.
CARGO ?= cargo
KBATCH := $(CARGO) run --quiet --bin kbatch --
CERTS_DIR ?= certs
POLICY_DIR ?= manifests/examples
# The image the Deployments in manifests/deploy name; `make image IMAGE=...` for your registry.
IMAGE ?= ghcr.io/kbatch/kbatch:0.1.0
CONTAINER_ENGINE ?= docker

.PHONY: run test e2e lint fmt doc unit bench bench-policy bench-load bench-cluster manifests certs image check-examples clean help

help:
	@echo "make run        serve the webhook on https://127.0.0.1:8443 with $(POLICY_DIR) (dev certs made if missing)"
	@echo "make test       formatting, clippy, docs and the whole test suite"
	@echo "make e2e        the cluster tests on a real control plane (needs KUBEBUILDER_ASSETS)"
	@echo "make bench      criterion benchmarks and the HTTPS load harness (release build)"
	@echo "make bench-cluster  10,000 BatchJobs on a real control plane vs the Job controller alone"
	@echo "make manifests  regenerate manifests/crds from the Rust types"
	@echo "make certs      dev certificates + webhook configurations with their caBundle"
	@echo "make image      the container image $(IMAGE) (CONTAINER_ENGINE=$(CONTAINER_ENGINE))"

run: $(CERTS_DIR)/tls.crt
	@echo "Serving $(POLICY_DIR) on https://127.0.0.1:8443 (probes and /metrics on http://127.0.0.1:8080)."
	@echo "Try a recorded API-server request (a BatchJob CREATE from alice):"
	@echo "  curl --cacert $(CERTS_DIR)/ca.crt -H 'Content-Type: application/json' \\"
	@echo "       --data @tests/fixtures/admission/019.json https://127.0.0.1:8443/mutate"
	@echo "  curl --cacert $(CERTS_DIR)/ca.crt -H 'Content-Type: application/json' \\"
	@echo "       --data @tests/fixtures/admission/038.json https://127.0.0.1:8443/validate   # a refused DELETE"
	@echo "  curl http://127.0.0.1:8080/readyz"
	$(KBATCH) serve --policy $(POLICY_DIR) --tls-cert $(CERTS_DIR)/tls.crt --tls-key $(CERTS_DIR)/tls.key

$(CERTS_DIR)/tls.crt:
	$(MAKE) certs

certs:
	@mkdir -p $(CERTS_DIR)
	@bundle=$$($(KBATCH) certs --out $(CERTS_DIR)) && \
	  sed "s|CA_BUNDLE|$$bundle|" manifests/webhook/webhook-configurations.yaml > $(CERTS_DIR)/webhook-configurations.yaml && \
	  echo "wrote $(CERTS_DIR)/ca.crt, tls.crt, tls.key and webhook-configurations.yaml"

test: lint doc unit

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

unit:
	$(CARGO) test --workspace --locked

# The cluster tests alone (tests/cluster); `make test` runs them too when KUBEBUILDER_ASSETS is
# set. E2E_ARGS filters scenarios by name.
e2e:
	@test -n "$$KUBEBUILDER_ASSETS" || { echo "make e2e: set KUBEBUILDER_ASSETS to a directory with etcd, kube-apiserver, kube-controller-manager and kube-scheduler (see README)"; exit 2; }
	$(CARGO) build --locked --bin kbatch
	$(CARGO) test --locked -p kbatch-e2e --test cluster -- $(E2E_ARGS)

bench: bench-policy bench-load

bench-policy:
	$(CARGO) bench -p kbatch-policy
	$(CARGO) bench -p kbatch-admission --bench review

bench-load:
	./tests/bench/load.sh

# kbatch at scale on a real control plane (KUBEBUILDER_ASSETS), against the Job controller
# alone; BENCH_JOBS (10000), BENCH_CONCURRENCY, BENCH_ROUNDS, BENCH_ROUND.
bench-cluster:
	@test -n "$$KUBEBUILDER_ASSETS" || { echo "make bench-cluster: set KUBEBUILDER_ASSETS (see README)"; exit 2; }
	$(CARGO) build --locked --release --bin kbatch
	KBATCH_CONTROLLER_LOG=$${KBATCH_CONTROLLER_LOG:-info} KBATCH_BIN=$${CARGO_TARGET_DIR:-target}/release/kbatch $(CARGO) run --locked -p kbatch-e2e --example cluster_bench

manifests:
	$(KBATCH) crds > manifests/crds/kbatch.k8s.io.yaml

image:
	$(CONTAINER_ENGINE) build -t $(IMAGE) .

check-examples:
	$(KBATCH) check --policy $(POLICY_DIR) $(POLICY_DIR)

clean:
	$(CARGO) clean
