#!/usr/bin/python3
"""Debian's python3-kubernetes (a client written by others) against the stand-in API server.

Usage: python_client.py URL CASE [TOKEN [CA_FILE]]; prints "ok" and exits 0 when the case
passes.
"""
import sys
import threading
import time

from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def api_client(url, token=None, ca=None):
    cfg = client.Configuration()
    cfg.host = url
    if ca:
        cfg.ssl_ca_cert = ca
    if token:
        cfg.api_key = {"authorization": token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(cfg)


def service(name, labels=None):
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]))


def case_list(api):
    v1 = client.CoreV1Api(api)
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py")))
    v1.create_namespaced_service("py", service("one"))
    v1.create_namespaced_service("default", service("two"))
    svcs = v1.list_service_for_all_namespaces()
    names = sorted((s.metadata.namespace, s.metadata.name) for s in svcs.items)
    assert names == [("default", "two"), ("py", "one")], names
    assert svcs.metadata.resource_version, "list without resourceVersion"
    assert svcs.items[0].spec.cluster_ip, "no clusterIP defaulted"


def case_watch(api):
    v1 = client.CoreV1Api(api)

    def mutate():
        time.sleep(0.5)
        v1.create_namespaced_service("default", service("w"))
        v1.patch_namespaced_service("w", "default", {"metadata": {"labels": {"a": "b"}}})
        v1.delete_namespaced_service("w", "default")

    t = threading.Thread(target=mutate)
    t.start()
    seen = []
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_service, "default", timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    t.join()
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")], seen


def case_lease_conflict(api):
    coord = client.CoordinationV1Api(api)
    lease = coord.create_namespaced_lease("default", client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader"),
        spec=client.V1LeaseSpec(holder_identity="a")))
    fresh = coord.read_namespaced_lease("leader", "default")
    fresh.spec.holder_identity = "b"
    coord.replace_namespaced_lease("leader", "default", fresh)
    lease.spec.holder_identity = "c"  # still at the old resourceVersion
    try:
        coord.replace_namespaced_lease("leader", "default", lease)
    except ApiException as e:
        assert e.status == 409, e.status
        assert "Conflict" in e.body, e.body
    else:
        raise AssertionError("stale replace succeeded")
    assert coord.read_namespaced_lease("leader", "default").spec.holder_identity == "b"


def case_status(api):
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_service("default", service("lb"))
    r = v1.patch_namespaced_service_status(
        "lb", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}})
    assert r.status.load_balancer.ingress[0].ip == "192.0.2.7"
    # A status change through the main resource is ignored.
    r = v1.patch_namespaced_service(
        "lb", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.8"}]}}})
    assert r.status.load_balancer.ingress[0].ip == "192.0.2.7"


def case_token(api):
    v1 = client.CoreV1Api(api)
    v1.list_namespace()


def case_no_token(api):
    v1 = client.CoreV1Api(api)
    try:
        v1.list_namespace()
    except ApiException as e:
        assert e.status == 401, e.status
    else:
        raise AssertionError("no token, yet listed")


def main():
    url, case = sys.argv[1], sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    globals()["case_" + case](api_client(url, token, ca))
    print("ok")


if __name__ == "__main__":
    main()
