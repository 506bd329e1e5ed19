// kustomization.yaml trees read as Flux's kustomize build reads them. The oracle is
// `kubectl kustomize` (the machine's kubectl; see scripts/install-deps.sh): for each
// tree, its output and our build must be the same objects (compared as parsed YAML, in any order).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "netagent/source/kustomize.hpp"
#include "netagent/source/manifest_loader.hpp"
#include "netagent/source/yaml_documents.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::source {
namespace {

void write(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << content;
}

std::string all_errors(const std::vector<k8s::DecodeError>& errors) {
  std::string s;
  for (auto& e : errors)
    s += e.str() + "\n";
  return s;
}

// A YAML value as JSON, with plain scalars resolved as Kubernetes' YAML reader resolves them.
nlohmann::json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (auto it = n.begin(); it != n.end(); ++it)
        j[it->first.Scalar()] = to_json(it->second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& c : n)
        j.push_back(to_json(c));
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() != "?") return s;
      if (s == "true") return true;
      if (s == "false") return false;
      if (std::regex_match(s, std::regex("-?[0-9]+"))) return std::stoll(s);
      return s;
    }
    default:
      return nullptr;
  }
}

std::vector<std::string> canonical(const std::vector<YAML::Node>& docs) {
  std::vector<std::string> out;
  for (const auto& d : docs)
    if (!d.IsNull()) out.push_back(to_json(d).dump(1));
  std::sort(out.begin(), out.end());
  return out;
}

// `kubectl kustomize DIR`, parsed.
std::vector<YAML::Node> oracle(const std::string& dir, std::string& failure) {
  std::string cmd = "kubectl kustomize " + dir + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; p && (n = fread(buf, 1, sizeof buf, p)) > 0;)
    out.append(buf, n);
  int rc = p ? ::pclose(p) : -1;
  if (rc != 0) {
    failure = "kubectl kustomize failed (" + std::to_string(rc) + "): " + out;
    return {};
  }
  auto parsed = parse_yaml_documents(out);
  if (parsed.error) failure = "cannot parse kubectl output: " + parsed.error->str();
  return parsed.documents;
}

bool have_kubectl() {
  return std::system("kubectl version --client >/dev/null 2>&1") == 0;
}

// Builds dir both ways and compares.
void expect_same_as_kubectl(const std::string& dir) {
  if (!have_kubectl()) GTEST_SKIP() << "kubectl (kubernetes-client) is not installed";
  std::string failure;
  auto expected = oracle(dir, failure);
  ASSERT_TRUE(failure.empty()) << failure;
  auto built = kustomize_build(dir, dir, dir);
  ASSERT_TRUE(built.errors.empty()) << all_errors(built.errors);
  std::vector<YAML::Node> ours;
  for (auto& o : built.objects)
    ours.push_back(o.node);
  auto a = canonical(expected), b = canonical(ours);
  std::string both;
  for (auto& s : a)
    both += "kubectl: " + s + "\n";
  for (auto& s : b)
    both += "ours:    " + s + "\n";
  EXPECT_EQ(a, b) << both;
}

const char* kService = R"(apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: "8080"}
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec:
  clusterIP: None
  ports:
  - {port: 53, protocol: UDP}
)";

const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - {containerPort: 8080}
        env:
        - {name: A, value: "1"}
)";

const char* kPolicies = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web}
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - podSelector:
        matchLabels: {role: client}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: dns}
spec:
  endpointSelector: {}
  egress:
  - toEndpoints:
    - matchLabels: {k8s-app: kube-dns}
)";

TEST(KustomizeOracle, ResourcesNamespaceLabelsAnnotationsPrefixSuffix) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/svc.yaml", kService);
  write(d + "/deploy.yaml", kDeployment);
  write(d + "/policies/kustomization.yaml", "resources: [policies.yaml]\n");
  write(d + "/policies/policies.yaml", kPolicies);
  write(d + "/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n");
  write(d + "/kustomization.yaml", R"(apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: demo
namePrefix: pre-
nameSuffix: -suf
commonLabels:
  team: blue
commonAnnotations:
  owner: "netagent <team@example.com>"
resources:
- ns.yaml
- svc.yaml
- deploy.yaml
- policies
)");
  expect_same_as_kubectl(d);
}

TEST(KustomizeOracle, LabelsWithAndWithoutSelectors) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/svc.yaml", kService);
  write(d + "/deploy.yaml", kDeployment);
  write(d + "/policies.yaml", kPolicies);
  write(d + "/kustomization.yaml", R"(resources: [svc.yaml, deploy.yaml, policies.yaml]
labels:
- pairs: {plain: "yes"}
- pairs: {tmpl: t}
  includeTemplates: true
- pairs: {sel: s}
  includeSelectors: true
)");
  expect_same_as_kubectl(d);
}

TEST(KustomizeOracle, Generators) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/files/app.properties", "a=1\nb=<two> & more\n");
  write(d + "/files/app.env", "# comment\n\nKEY=value\n  SPACED=x=y\n");
  write(d + "/kustomization.yaml", R"(namespace: kube-system
generatorOptions:
  labels: {generated: "true"}
configMapGenerator:
- name: settings
  literals: [A=1, "B=two words", C="quoted"]
  files: [files/app.properties, renamed=files/app.properties]
- name: from-env
  envs: [files/app.env]
- name: fixed
  literals: [X=y]
  options:
    disableNameSuffixHash: true
    annotations: {note: kept}
secretGenerator:
- name: creds
  literals: [password=s3cr3t]
- name: tls
  type: kubernetes.io/tls
  literals: [tls.crt=CERT, tls.key=KEY]
)");
  expect_same_as_kubectl(d);
}

TEST(KustomizeOracle, PatchesStrategicMergeAndJson6902) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/svc.yaml", kService);
  write(d + "/deploy.yaml", kDeployment);
  write(d + "/policies.yaml", kPolicies);
  write(d + "/patch-deploy.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.28
        env:
        - {name: B, value: "2"}
      - name: sidecar
        image: busybox
)");
  write(d + "/kustomization.yaml", R"(resources: [svc.yaml, deploy.yaml, policies.yaml]
namespace: apps
patches:
- path: patch-deploy.yaml
- target: {kind: Service, name: "web|headless"}
  patch: |-
    - op: add
      path: /metadata/annotations
      value: {patched: "json"}
    - op: replace
      path: /spec/ports/0/port
      value: 8443
- target: {kind: Service, labelSelector: "app=web"}
  patch: |-
    apiVersion: v1
    kind: Service
    metadata: {name: any}
    spec:
      type: LoadBalancer
- patch: |-
    apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: allow-web}
    spec:
      policyTypes: null
      ingress:
      - from:
        - namespaceSelector: {}
- target: {group: cilium.io, kind: CiliumNetworkPolicy}
  patch: |-
    - op: remove
      path: /spec/egress/0
    - op: add
      path: /spec/egress/-
      value: {toEntities: [world]}
)");
  expect_same_as_kubectl(d);
}

TEST(KustomizeOracle, OverlaysAndComponents) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/base/svc.yaml", kService);
  write(d + "/base/kustomization.yaml", "resources: [svc.yaml]\ncommonLabels: {layer: base}\n");
  write(d + "/components/deny/kustomization.yaml", R"(apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources: [deny.yaml]
patches:
- target: {kind: Service}
  patch: |-
    - op: add
      path: /metadata/labels/component
      value: deny
)");
  write(d + "/components/deny/deny.yaml", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny}
spec:
  podSelector: {}
)");
  write(d + "/overlays/prod/kustomization.yaml", R"(resources: [../../base]
components: [../../components/deny]
namespace: prod
namePrefix: prod-
)");
  write(d + "/overlays/stage/kustomization.yaml", R"(resources: [../../base]
namespace: stage
)");
  write(d + "/kustomization.yaml", "resources: [overlays/prod, overlays/stage]\n");
  expect_same_as_kubectl(d);
}

// --- Behaviour of the loader with kustomizations (no oracle needed) ---

const char* kBaseline = R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: default-deny}
spec:
  endpointSelector: {}
  ingress: [{}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cluster-dns}
spec:
  endpointSelector: {}
)";

k8s::KindRegistry registry() {
  k8s::KindRegistry reg;
  reg.add("CiliumNetworkPolicy", {"cilium.io/v2"}, nullptr);
  reg.add("CiliumClusterwideNetworkPolicy", {"cilium.io/v2"}, nullptr);
  return reg;
}

const k8s::Object* find(const k8s::Snapshot& s, const std::string& kind, const std::string& name) {
  for (const auto& o : s.objects)
    if (o.kind == kind && o.meta.name == name) return &o;
  return nullptr;
}

TEST(KustomizeTree, NamespaceBaselineLandsInItsNamespace) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/apps/demo/kustomization.yaml", "namespace: demo\nresources: [baseline.yaml]\n");
  write(d + "/apps/demo/baseline.yaml", kBaseline);
  write(d + "/apps/demo/unlisted.yaml", "this: is not read\n: [broken");
  write(d + "/plain/svc.yaml", kService);  // no kustomization: read by walking
  ManifestOptions opts;
  opts.registry = registry();
  ManifestLoader loader(opts);
  auto r = loader.load(d);
  ASSERT_TRUE(r.ok()) << all_errors(r.errors);
  auto* cnp = find(*r.snapshot, "CiliumNetworkPolicy", "default-deny");
  ASSERT_NE(cnp, nullptr);
  EXPECT_EQ(cnp->meta.ns, "demo");
  EXPECT_EQ(cnp->source.file, d + "/apps/demo/baseline.yaml");
  EXPECT_EQ(cnp->source.document, 0);
  // Cluster-scoped Cilium kinds keep no namespace (kubectl kustomize would set one).
  auto* ccnp = find(*r.snapshot, "CiliumClusterwideNetworkPolicy", "cluster-dns");
  ASSERT_NE(ccnp, nullptr);
  EXPECT_EQ(ccnp->meta.ns, "");
  EXPECT_EQ(ccnp->source.document, 1);
  EXPECT_EQ(r.snapshot->services.size(), 2u);
  EXPECT_EQ(r.stats.kustomizations, 1u);
  // Nothing changed: the build is reused, nothing is parsed again.
  auto again = loader.load(d);
  ASSERT_TRUE(again.ok()) << all_errors(again.errors);
  EXPECT_TRUE(again.unchanged);
  EXPECT_EQ(again.stats.files_parsed, 0u);
  // An edit of the kustomization is seen by the next load.
  write(d + "/apps/demo/kustomization.yaml", "namespace: other\nresources: [baseline.yaml]\n");
  r = loader.load(d);
  ASSERT_TRUE(r.ok()) << all_errors(r.errors);
  EXPECT_FALSE(r.unchanged);
  EXPECT_EQ(find(*r.snapshot, "CiliumNetworkPolicy", "default-deny")->meta.ns, "other");
}

TEST(KustomizeTree, AFileUsedByTwoOverlaysKeepsASourceForEach) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/base/kustomization.yaml", "resources: [svc.yaml]\n");
  write(d + "/base/svc.yaml", kService);
  write(d + "/kustomization.yaml", "resources: [a, b]\n");
  write(d + "/a/kustomization.yaml", "resources: [../base]\nnamespace: a\n");
  write(d + "/b/kustomization.yaml", "resources: [../base]\nnamespace: b\n");
  auto r = load_manifest_tree(d);
  ASSERT_TRUE(r.ok()) << all_errors(r.errors);
  ASSERT_EQ(r.snapshot->services.size(), 4u);
  std::set<std::string> seen;
  for (auto& s : r.snapshot->services)
    seen.insert(s.meta.ns + "/" + s.meta.name + " " + s.source.str());
  EXPECT_EQ(seen, (std::set<std::string>{
                      "a/web " + d + "/base/svc.yaml (document 0)",
                      "a/headless " + d + "/base/svc.yaml (document 1)",
                      "b/web " + d + "/base/svc.yaml (#2) (document 0)",
                      "b/headless " + d + "/base/svc.yaml (#2) (document 1)",
                  }));
}

TEST(KustomizeTree, ErrorsNameTheFileAndFieldAndKeepNothing) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/kustomization.yaml", R"(resources: [svc.yaml, missing.yaml, sub]
images:
- name: nginx
replicas: []
)");
  write(d + "/svc.yaml", kService);
  write(d + "/sub/kustomization.yaml", "resources: [..]\n");  // a cycle
  auto r = load_manifest_tree(d);
  ASSERT_FALSE(r.ok());
  std::string all = all_errors(r.errors);
  EXPECT_NE(all.find(d + "/kustomization.yaml: images: is not supported"), std::string::npos)
      << all;
  EXPECT_NE(all.find(d + "/kustomization.yaml: replicas: is not supported"), std::string::npos)
      << all;
  EXPECT_NE(all.find(d + "/kustomization.yaml: resources[1]: \"missing.yaml\" does not exist"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(d + "/sub/kustomization.yaml: resources[0]: reference cycle"),
            std::string::npos)
      << all;
}

TEST(KustomizeTree, BadPatchesAndGeneratorsAreErrors) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/svc.yaml", kService);
  write(d + "/kustomization.yaml", R"(resources: [svc.yaml]
patches:
- target: {kind: Service, name: nothing-matches}
  patch: '[{"op": "remove", "path": "/spec"}]'
- target: {kind: Service, name: web}
  patch: '[{"op": "remove", "path": "/spec/nope"}]'
configMapGenerator:
- name: x
  behavior: merge
  envs: [a.env]
- name: y
  files: [../outside.txt]
)");
  auto r = load_manifest_tree(d);
  ASSERT_FALSE(r.ok());
  std::string all = all_errors(r.errors);
  EXPECT_NE(all.find("configMapGenerator[0].envs[0]: " + d + "/a.env: cannot read"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("configMapGenerator[0].behavior: \"merge\" is not supported"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("configMapGenerator[1].files[0]: \"../outside.txt\" is outside the manifest "
                     "tree"),
            std::string::npos)
      << all;
  // The generator errors stop the build before patches run; fix them and see the patch errors.
  write(d + "/kustomization.yaml", R"(resources: [svc.yaml]
patches:
- target: {kind: Service, name: nothing-matches}
  patch: '[{"op": "remove", "path": "/spec"}]'
- target: {kind: Service, name: web}
  patch: '[{"op": "remove", "path": "/spec/nope"}]'
)");
  r = load_manifest_tree(d);
  ASSERT_FALSE(r.ok());
  all = all_errors(r.errors);
  EXPECT_NE(all.find("patches[0]: no resource matches the target"), std::string::npos) << all;
  EXPECT_NE(all.find("patches[1]: operation 0 (remove /spec/nope): path element \"nope\" does "
                     "not exist"),
            std::string::npos)
      << all;
}

TEST(KustomizeTree, TwoKustomizationFilesInADirectoryAreAnError) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/svc.yaml", kService);
  write(d + "/kustomization.yaml", "resources: [svc.yaml]\n");
  write(d + "/Kustomization", "resources: [svc.yaml]\nnamespace: x\n");
  auto r = load_manifest_tree(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(all_errors(r.errors).find("more than one of kustomization.yaml"), std::string::npos)
      << all_errors(r.errors);
}

TEST(KustomizeTree, GeneratedObjectsHaveTheKustomizationAsSource) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  write(d + "/kustomization.yaml", R"(namespace: flux-system
configMapGenerator:
- name: cluster-settings
  literals: [CLUSTER=infra]
  options: {disableNameSuffixHash: true}
- name: other
  literals: [A=b]
)");
  auto r = load_manifest_tree(d);
  ASSERT_TRUE(r.ok()) << all_errors(r.errors);
  ASSERT_EQ(r.snapshot->config_maps.size(), 2u);
  const auto& cm = r.snapshot->config_maps[0];
  EXPECT_EQ(cm.meta.ns + "/" + cm.meta.name, "flux-system/cluster-settings");
  EXPECT_EQ(cm.source.str(), d + "/kustomization.yaml (document 0)");
  EXPECT_EQ(r.snapshot->config_maps[1].source.document, 1);
  EXPECT_EQ(r.snapshot->config_maps[1].meta.name.rfind("other-", 0), 0u);
  // A generated settings ConfigMap provides the variables, as in Flux.
  EXPECT_EQ(r.snapshot->settings.at("CLUSTER"), "infra");
}

// Objects' digests let consumers skip unchanged objects: an edit of one resource file changes
// the digests of its objects only; an edit of the kustomization changes them all.
TEST(KustomizeTree, AnEditChangesTheDigestsOfThatFilesObjectsOnly) {
  testing::TempDir tmp("kustomize");
  const auto& d = tmp.path();
  auto svc = [](const std::string& name, int port) {
    return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name +
           "}\nspec:\n  ports:\n  - {port: " + std::to_string(port) + "}\n";
  };
  write(d + "/kustomization.yaml", "namespace: x\nresources: [a.yaml, b.yaml]\n");
  write(d + "/a.yaml", svc("a", 80));
  write(d + "/b.yaml", svc("b", 80));
  ManifestLoader loader;
  auto digests = [&] {
    auto r = loader.load(d);
    EXPECT_TRUE(r.ok()) << all_errors(r.errors);
    std::map<std::string, uint64_t> out;
    for (auto& s : r.snapshot->services)
      out[s.meta.name] = s.source.digest;
    return out;
  };
  auto first = digests();
  ASSERT_EQ(first.size(), 2u);
  write(d + "/b.yaml", svc("b", 81));
  auto second = digests();
  EXPECT_EQ(second["a"], first["a"]);
  EXPECT_NE(second["b"], first["b"]);
  write(d + "/kustomization.yaml", "namespace: y\nresources: [a.yaml, b.yaml]\n");
  auto third = digests();
  EXPECT_NE(third["a"], second["a"]);
  EXPECT_NE(third["b"], second["b"]);
}

}  // namespace
}  // namespace netagent::source
