// Cluster names and ids, identity scoping, the kvstore key layout and value codec, and the
// cilium-clustermesh Secret: pure, no network.
#include <gtest/gtest.h>

#include "netagent/mesh/cluster.hpp"
#include "netagent/mesh/config.hpp"
#include "netagent/mesh/kvstore.hpp"

namespace netagent::mesh {
namespace {

// A self-signed certificate and its key, only loaded (never used to connect).
constexpr const char* kCertPem = R"(-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIUe4rlfddOTXPzrbgU5J5dd7BKciIwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSbmV0YWdlbnQtdW5pdC10ZXN0MCAXDTI2MTEyMzExMjg1MloY
DzIxMjYxMDMwMTEyODUyWjAdMRswGQYDVQQDDBJuZXRhZ2VudC11bml0LXRlc3Qw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATxRRZBXszGhu6lhhi7h6PloCq9IgIB
9fcdoyO9hNAi4qJFmmOBQKvzvKXQi1tjdBJwLMT+fqvoEUCqt226+oxzo1MwUTAd
BgNVHQ4EFgQU6DPVXYFoPYTFKSKvFGDR4E/HSEUwHwYDVR0jBBgwFoAU6DPVXYFo
PYTFKSKvFGDR4E/HSEUwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiA1owZGtE4p2klZTn3zHa+6JBFUkJ8VEmzGWtpghJXfwQIhANVJbBam5d2Pk3SE
vTuAP008wFG3yo/kb3yuN54YwM1c
-----END CERTIFICATE-----
)";
constexpr const char* kKeyPem = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgD0Qf9EtZE/BQs0dQ
IrjhwVb6YqU3pv6FPFPjxfpPExOhRANCAATxRRZBXszGhu6lhhi7h6PloCq9IgIB
9fcdoyO9hNAi4qJFmmOBQKvzvKXQi1tjdBJwLMT+fqvoEUCqt226+oxz
-----END PRIVATE KEY-----
)";

TEST(ClusterName, CiliumRules) {
  struct Case {
    std::string name;
    std::string error;  // empty: valid
  } cases[] = {
      {"infra", ""},
      {"apps-2", ""},
      {"a", ""},
      {std::string(32, 'a'), ""},
      {std::string(33, 'a'),
       "cluster name \"" + std::string(33, 'a') + "\": is longer than 32 characters"},
      {"", "cluster name \"\": is empty"},
      {"Apps", "cluster name \"Apps\": may only contain lowercase letters, digits and '-'"},
      {"apps.x", "cluster name \"apps.x\": may only contain lowercase letters, digits and '-'"},
      {"-apps", "cluster name \"-apps\": must start and end with a lowercase letter or digit"},
      {"apps-", "cluster name \"apps-\": must start and end with a lowercase letter or digit"},
  };
  for (const auto& c : cases) {
    auto st = validate_cluster_name(c.name);
    EXPECT_EQ(st.ok() ? "" : st.error().message, c.error) << c.name;
  }
  EXPECT_TRUE(validate_cluster_id(1).ok());
  EXPECT_TRUE(validate_cluster_id(255).ok());
  EXPECT_EQ(validate_cluster_id(0).error().message, "cluster id 0 is not in 1..255");
  EXPECT_EQ(validate_cluster_id(256).error().message, "cluster id 256 is not in 1..255");
}

TEST(ClusterName, FromClusterSettings) {
  auto ok = cluster_from_settings({{"CLUSTER", "apps"}, {"CLUSTER_ID", "2"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, (ClusterInfo{"apps", 2}));
  EXPECT_EQ(cluster_from_settings({{"CLUSTER_ID", "2"}}).error().message,
            "cluster-settings: CLUSTER is not set");
  EXPECT_EQ(cluster_from_settings({{"CLUSTER", "apps"}, {"CLUSTER_ID", "two"}}).error().message,
            "cluster-settings CLUSTER_ID: \"two\" is not a number");
  EXPECT_EQ(cluster_from_settings({{"CLUSTER", "apps"}, {"CLUSTER_ID", "300"}}).error().message,
            "cluster-settings CLUSTER_ID: cluster id 300 is not in 1..255");
  EXPECT_EQ(cluster_from_settings({{"CLUSTER", "Apps"}, {"CLUSTER_ID", "2"}}).error().message,
            "cluster-settings CLUSTER: cluster name \"Apps\": may only contain lowercase letters, "
            "digits and '-'");
}

TEST(Identity, ClusterIdLivesInBits16To23) {
  EXPECT_EQ(scope_identity(300, 2), (2u << 16) | 300);
  EXPECT_EQ(scope_identity((5u << 16) | 300, 2), (2u << 16) | 300);
  EXPECT_EQ(scope_identity(6, 2), 6u) << "reserved identities are the same everywhere";
  EXPECT_EQ(scope_identity(kLocalScopeBit | 7, 2), kLocalScopeBit | 7);
  EXPECT_EQ(identity_cluster((2u << 16) | 300), 2u);
  EXPECT_EQ(identity_cluster(2), 0u);
  // The same local number in two clusters never collides.
  EXPECT_NE(scope_identity(256, 1), scope_identity(256, 2));
}

TEST(KvstoreKeys, LayoutAndParsing) {
  EXPECT_EQ(kvstore::node_key("apps", "n1"), "cilium/state/nodes/v1/apps/n1");
  EXPECT_EQ(kvstore::service_key("apps", "default", "echo"),
            "cilium/state/services/v1/apps/default/echo");
  EXPECT_EQ(kvstore::identity_key(131328), "cilium/state/identities/v1/id/131328");
  EXPECT_EQ(kvstore::ip_key("apps", "10.2.0.5"), "cilium/state/ip/v1/apps/10.2.0.5");
  EXPECT_EQ(kvstore::cluster_config_key("apps"), "cilium/cluster-config/apps");
  EXPECT_EQ(kvstore::synced_key("apps", "ip"), "cilium/synced/apps/cilium/state/ip/v1");

  using K = kvstore::ParsedKey::Kind;
  struct Case {
    std::string key;
    K kind;
    std::string cluster, name;
  } cases[] = {
      {"cilium/state/nodes/v1/apps/n1", K::Node, "apps", "n1"},
      {"cilium/state/services/v1/apps/default/echo", K::Service, "apps", "default/echo"},
      {"cilium/state/services/v1/apps/default", K::Other, "", ""},
      {"cilium/state/ip/v1/apps/10.2.0.5", K::Ip, "apps", "10.2.0.5"},
      {"cilium/state/identities/v1/id/131328", K::Identity, "", "131328"},
      {"cilium/state/identities/v1/id/x1", K::Other, "", ""},
      {"cilium/cluster-config/apps", K::ClusterConfig, "apps", ""},
      {"cilium/synced/apps/cilium/state/nodes/v1", K::Synced, "apps", "nodes"},
      {"cilium/state/cnpstatuses/v2/x", K::Other, "", ""},
      {"unrelated", K::Other, "", ""},
  };
  for (const auto& c : cases) {
    auto k = kvstore::parse_key(c.key);
    EXPECT_EQ(k.kind, c.kind) << c.key;
    EXPECT_EQ(k.cluster, c.cluster) << c.key;
    EXPECT_EQ(k.name, c.name) << c.key;
  }
}

TEST(KvstoreCodec, RoundTripsEveryRecord) {
  NodeRecord n{"apps-1",
               "apps",
               2,
               {{"InternalIP", "10.25.11.21"}},
               {"10.2.0.0/24", "10.2.8.0/24"},
               {{"kubernetes.io/hostname", "apps-1"}}};
  auto n2 = kvstore::decode_node(kvstore::encode(n));
  ASSERT_TRUE(n2.ok()) << n2.error().message;
  EXPECT_EQ(*n2, n);
  // Go's net.IPNet form, as Cilium writes it.
  EXPECT_NE(kvstore::encode(n).find(R"("IPv4AllocCIDR":{"IP":"10.2.0.0","Mask":"////AA=="})"),
            std::string::npos)
      << kvstore::encode(n);

  EndpointRecord e{"10.2.0.5", (2u << 16) | 300, "10.25.11.21", "apps-1", "default", "echo-0"};
  auto e2 = kvstore::decode_endpoint(kvstore::encode(e));
  ASSERT_TRUE(e2.ok()) << e2.error().message;
  EXPECT_EQ(*e2, e);

  IdentityRecord id{(2u << 16) | 300, {"k8s:app=echo", "k8s:io.cilium.k8s.policy.cluster=apps"}};
  auto id2 = kvstore::decode_identity(id.id, kvstore::encode(id));
  ASSERT_TRUE(id2.ok());
  EXPECT_EQ(*id2, id);

  ServiceRecord s;
  s.cluster = "apps";
  s.cluster_id = 2;
  s.ns = "default";
  s.name = "echo";
  s.frontends["10.96.0.10"] = {{"http", {"TCP", 80}}};
  s.backends["10.2.0.5"] = {{"http", {"TCP", 8080}}, {"dns", {"UDP", 53}}};
  s.labels = {{"app", "echo"}};
  s.shared = true;
  auto s2 = kvstore::decode_service(kvstore::encode(s));
  ASSERT_TRUE(s2.ok()) << s2.error().message;
  EXPECT_EQ(*s2, s);

  ClusterConfigRecord cfg{2, true, 255, {"10.2.0.0/16"}};
  auto cfg2 = kvstore::decode_cluster_config(kvstore::encode(cfg));
  ASSERT_TRUE(cfg2.ok());
  EXPECT_EQ(*cfg2, cfg);
  EXPECT_EQ(kvstore::encode(cfg),
            R"({"capabilities":{"maxConnectedClusters":255,"syncedCanaries":true},"id":2,)"
            R"("podCIDRs":["10.2.0.0/16"]})");
}

TEST(KvstoreCodec, AcceptsCiliumSpellings) {
  // Cilium's ClusterService with L4Addr fields as Go marshals them, no shared/includeExternal.
  auto s = kvstore::decode_service(
      R"({"cluster":"apps","namespace":"default","name":"echo",
          "frontends":{"172.20.0.177":{"port":{"Protocol":"TCP","Port":80}}},
          "backends":{"10.2.0.5":{"port":{"Protocol":"TCP","Port":80}}},"clusterID":2})");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(s->shared);
  EXPECT_EQ(s->backends.at("10.2.0.5").at("port"), (L4Port{"TCP", 80}));
  // The allocator's "labels;" form.
  auto id = kvstore::decode_identity(7, "k8s:b=2;k8s:a=1;");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->labels, (std::vector<std::string>{"k8s:a=1", "k8s:b=2"}));
  auto n = kvstore::decode_node(
      R"({"Name":"n","Cluster":"apps","IPAddresses":[],"IPv4AllocCIDR":"10.2.0.0/24"})");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->pod_cidrs, std::vector<std::string>{"10.2.0.0/24"});
}

TEST(KvstoreCodec, ErrorsNameTheField) {
  struct Case {
    std::string what;
    Status st;
    std::string error;
  } cases[] = {
      {"not json", kvstore::decode_endpoint("{").error(), "value is not JSON"},
      {"missing IP", kvstore::decode_endpoint(R"({"ID":5})").error(), "field IP is missing"},
      {"bad IP", kvstore::decode_endpoint(R"({"IP":"10.0.0.300","ID":5})").error(),
       "field IP: \"10.0.0.300\" is not an IP address"},
      {"negative id", kvstore::decode_endpoint(R"({"IP":"10.0.0.3","ID":-5})").error(),
       "field ID is not a non-negative integer"},
      {"bad port",
       kvstore::decode_service(
           R"({"cluster":"a","namespace":"n","name":"s","backends":{"10.0.0.1":{"p":{"protocol":"TCP","port":70000}}}})")
           .error(),
       "field backends.10.0.0.1.p.port is not in 1..65535"},
      {"bad protocol",
       kvstore::decode_service(
           R"({"cluster":"a","namespace":"n","name":"s","frontends":{"10.0.0.1":{"p":{"protocol":"ICMP","port":7}}}})")
           .error(),
       "field frontends.10.0.0.1.p.protocol: \"ICMP\" is not TCP, UDP or SCTP"},
      {"empty identity", kvstore::decode_identity(5, "[]").error(), "identity has no labels"},
  };
  for (const auto& c : cases) {
    ASSERT_FALSE(c.st.ok()) << c.what;
    EXPECT_EQ(c.st.error().message, c.error) << c.what;
  }
}

k8s::Secret mesh_secret() {
  k8s::Secret s;
  s.meta.ns = "kube-system";
  s.meta.name = "cilium-clustermesh";
  s.source = {"clusters/infra/clustermesh.yaml", 0};
  s.data["apps"] =
      "endpoints:\n- https://10.25.11.120:2379\n"
      "trusted-ca-file: /var/lib/cilium/clustermesh/apps.etcd-client-ca.crt\n"
      "cert-file: /var/lib/cilium/clustermesh/apps.etcd-client.crt\n"
      "key-file: /var/lib/cilium/clustermesh/apps.etcd-client.key\n";
  s.data["apps.etcd-client-ca.crt"] = kCertPem;
  s.data["apps.etcd-client.crt"] = kCertPem;
  s.data["apps.etcd-client.key"] = kKeyPem;
  s.data["infra"] = "endpoints:\n- http://10.25.11.100:2379\n";
  return s;
}

TEST(ClusterMeshSecret, ResolvesFilesToSecretKeys) {
  auto cfg = parse_clustermesh_secret(mesh_secret(), "infra");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  ASSERT_EQ(cfg->remotes.size(), 1u);
  const auto& apps = cfg->remotes[0];
  EXPECT_EQ(apps.name, "apps");
  EXPECT_EQ(apps.etcd.name, "etcd of cluster apps");
  EXPECT_EQ(apps.etcd.endpoints, std::vector<std::string>{"https://10.25.11.120:2379"});
  ASSERT_TRUE(apps.etcd.tls);
  EXPECT_EQ(apps.etcd.tls->ca_pem, kCertPem);
  EXPECT_EQ(apps.etcd.tls->cert_pem, kCertPem);
  EXPECT_EQ(apps.etcd.tls->key_pem, kKeyPem);
  // The entry named after this cluster is its own etcd.
  ASSERT_TRUE(cfg->local);
  EXPECT_EQ(cfg->local->endpoints, std::vector<std::string>{"http://10.25.11.100:2379"});
}

TEST(ClusterMeshSecret, EveryProblemIsReportedWithItsKey) {
  struct Case {
    std::string what;
    std::function<void(k8s::Secret&)> edit;
    std::string error;
  } cases[] = {
      {"missing key file", [](k8s::Secret& s) { s.data.erase("apps.etcd-client.key"); },
       "key \"apps\": key-file \"/var/lib/cilium/clustermesh/apps.etcd-client.key\": the Secret "
       "has no key \"apps.etcd-client.key\" and there is no such file"},
      {"bad name", [](k8s::Secret& s) { s.data["Apps"] = "endpoints: [http://x:1]"; },
       "key \"Apps\": cluster name \"Apps\": may only contain lowercase letters, digits and '-'"},
      {"no endpoints", [](k8s::Secret& s) { s.data["apps"] = "trusted-ca-file: x\n"; },
       "key \"apps\": endpoints: a non-empty list of URLs is required"},
      {"not yaml", [](k8s::Secret& s) { s.data["apps"] = "endpoints: [\n"; },
       "key \"apps\": not valid YAML: "},
      {"https without CA",
       [](k8s::Secret& s) { s.data["apps"] = "endpoints: [https://10.25.11.120:2379]\n"; },
       "key \"apps\": trusted-ca-file is required for https endpoints"},
      {"cert without key",
       [](k8s::Secret& s) {
         s.data["apps"] =
             "endpoints: [https://10.25.11.120:2379]\ntrusted-ca-file: apps.etcd-client-ca.crt\n"
             "cert-file: apps.etcd-client.crt\n";
       },
       "key \"apps\": cert-file and key-file go together"},
      {"bad pem", [](k8s::Secret& s) { s.data["apps.etcd-client-ca.crt"] = "garbage"; },
       "key \"apps\": etcd of cluster apps: trusted CA: "},
      {"bad endpoint", [](k8s::Secret& s) { s.data["infra"] = "endpoints: [10.25.11.100:2379]\n"; },
       "key \"infra\": etcd of cluster infra: endpoint \"10.25.11.100:2379\": scheme must be "
       "http:// or https://"},
  };
  for (const auto& c : cases) {
    auto s = mesh_secret();
    c.edit(s);
    auto cfg = parse_clustermesh_secret(s, "infra");
    ASSERT_FALSE(cfg.ok()) << c.what;
    const std::string prefix =
        "Secret kube-system/cilium-clustermesh (clusters/infra/clustermesh.yaml (document 0)): ";
    EXPECT_EQ(cfg.error().message.substr(0, prefix.size()), prefix) << c.what;
    EXPECT_NE(cfg.error().message.find(c.error), std::string::npos)
        << c.what << ": " << cfg.error().message;
  }
}

TEST(ClusterMeshSecret, NoSecretMeansNoMesh) {
  k8s::Snapshot snap;
  auto cfg = clustermesh_from_snapshot(snap, "infra");
  ASSERT_TRUE(cfg.ok());
  EXPECT_TRUE(cfg->remotes.empty());
  EXPECT_FALSE(cfg->local);
}

}  // namespace
}  // namespace netagent::mesh
