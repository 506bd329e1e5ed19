// Loading a manifest tree into a Snapshot: documents, Lists, substitution from cluster-settings,
// ignored kinds, and errors that say file, document, object and field.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <sys/stat.h>

#include "netagent/source/manifest_loader.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::source {
namespace {

using k8s::DecodeError;

ManifestFile mf(const std::string& rel, const std::string& content) {
  return ManifestFile{"tree/" + rel, rel, "", content};
}

TreeLoad load(std::vector<ManifestFile> files, ManifestOptions opts = {}) {
  ManifestLoader loader(std::move(opts));
  return loader.load_files(std::move(files));
}

std::string all_errors(const TreeLoad& r) {
  std::string s;
  for (auto& e : r.errors)
    s += e.str() + "\n";
  return s;
}

const char* kSettings = R"(
apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-settings
  namespace: flux-system
data:
  CLUSTER: infra
  CILIUM_LB_POOL_START: 10.25.11.100
  CILIUM_LB_POOL_END: 10.25.11.119
  INFRA_POOL_DISABLED: "false"
  BGP_LOCAL_ASN: "64512"
  # Not substituted: the settings ConfigMap is taken as written.
  LITERAL: "${NOT_A_VARIABLE}"
)";

std::string service(const std::string& name, const std::string& port = "80",
                    const std::string& extra_meta = "") {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: demo\n" +
         extra_meta + "spec:\n  clusterIP: 10.96.0.10\n  ports:\n" + "  - port: " + port + "\n";
}

k8s::KindRegistry pool_registry() {
  k8s::KindRegistry reg;
  reg.add("CiliumLoadBalancerIPPool", {"cilium.io/v2alpha1", "cilium.io/v2"},
          [](const k8s::Object& o) {
            k8s::Field spec(o.raw.node()["spec"], "spec");
            spec["disabled"].opt_boolean();
            for (auto& b : spec["blocks"].items()) {
              k8s::decode_ipv4(b["start"]);
              k8s::decode_ipv4(b["stop"]);
            }
          });
  return reg;
}

TEST(Loader, MultiDocumentFilesAndEmptyDocuments) {
  auto r = load(
      {mf("svc.yaml", "---\n" + service("a") + "---\n# nothing\n---\n" + service("b") + "---\n")});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  ASSERT_EQ(r.snapshot->services.size(), 2u);
  EXPECT_EQ(r.snapshot->services[0].meta.name, "a");
  EXPECT_EQ(r.snapshot->services[0].source.document, 0);
  EXPECT_EQ(r.snapshot->services[1].meta.name, "b");
  EXPECT_EQ(r.snapshot->services[1].source.document, 2);  // the empty document still counts
  EXPECT_EQ(r.snapshot->services[1].source.file, "tree/svc.yaml");
  EXPECT_EQ(r.stats.documents, 2u);
}

TEST(Loader, ErrorNamesFileDocumentObjectAndField) {
  auto r = load({mf("apps/svc.yaml", service("good") + "---\n" + service("good2") + "---\n" +
                                         service("bad", "70000"))});
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.source.file, "tree/apps/svc.yaml");
  EXPECT_EQ(e.source.document, 2);
  EXPECT_EQ(e.object, "Service demo/bad");
  EXPECT_EQ(e.field, "spec.ports[0].port");
  EXPECT_NE(e.str().find("tree/apps/svc.yaml (document 2): Service demo/bad: spec.ports[0].port"),
            std::string::npos)
      << e.str();
}

TEST(Loader, EveryErrorOfEveryFileIsReported) {
  auto r = load({mf("a.yaml", service("x", "0")), mf("b.yaml", "kind: [unclosed\n"),
                 mf("c.yaml", service("y") + "---\n" + service("z", "abc"))});
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 3u) << all_errors(r);
  EXPECT_EQ(r.errors[0].source.file, "tree/a.yaml");
  EXPECT_EQ(r.errors[1].source.file, "tree/b.yaml");
  EXPECT_EQ(r.errors[2].source.file, "tree/c.yaml");
  EXPECT_EQ(r.errors[2].source.document, 1);
}

TEST(Loader, EveryErrorOfAnObjectIsReported) {
  // Four bad fields in one Service, a wrong apiVersion and two bad fields in an EndpointSlice,
  // and a metadata error: each is reported, with its path, not only the first of its object.
  const char* bad_service = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  type: Balanced
  clusterIP: 10.96.0.300
  ports:
  - {name: http, port: 70000}
  - {name: dns, port: 53, protocol: ICMP, nodePort: 0}
)";
  const char* bad_slice = R"(apiVersion: discovery.k8s.io/v2
kind: EndpointSlice
metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}
endpoints:
- {addresses: [10.1.0.300]}
- {addresses: [10.1.0.6], conditions: {ready: maybe}}
)";
  const char* bad_meta = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: [not, a, name], namespace: demo, labels: {a: [1]}}
)";
  auto r =
      load({mf("svc.yaml", bad_service), mf("slice.yaml", bad_slice), mf("cm.yaml", bad_meta)});
  ASSERT_FALSE(r.ok());
  std::vector<std::string> fields;
  for (const auto& e : r.errors)
    fields.push_back(e.source.file + " " + e.field);
  std::vector<std::string> want = {
      "tree/cm.yaml metadata.name",
      "tree/cm.yaml metadata.labels.a",
      "tree/slice.yaml apiVersion",
      "tree/slice.yaml endpoints[0].addresses[0]",
      "tree/slice.yaml endpoints[1].conditions.ready",
      "tree/svc.yaml spec.type",
      "tree/svc.yaml spec.clusterIP",
      "tree/svc.yaml spec.ports[0].port",
      "tree/svc.yaml spec.ports[1].protocol",
      "tree/svc.yaml spec.ports[1].nodePort",
  };
  EXPECT_EQ(fields, want) << all_errors(r);
}

TEST(Loader, YamlSyntaxErrorNamesLineAndDocument) {
  auto r = load({mf("bad.yaml", service("a") + "---\n" + service("b") +
                                    "---\nkind: Service\n"
                                    "metadata: {name: [x\n")});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].source.document, 2);
  EXPECT_NE(r.errors[0].message.find("YAML syntax error at line"), std::string::npos)
      << r.errors[0].message;
}

TEST(Loader, DocumentsThatAreNotObjects) {
  auto r = load({mf("a.yaml", "- just\n- a list\n"), mf("b.yaml", "apiVersion: v1\nfoo: bar\n")});
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_NE(r.errors[0].message.find("must be a YAML map"), std::string::npos);
  EXPECT_EQ(r.errors[1].field, "kind");
}

TEST(Loader, SubstitutesFromClusterSettings) {
  ManifestOptions opts;
  opts.registry = pool_registry();
  auto r = load({mf("flux-system/settings.yaml", kSettings), mf("pool.yaml", R"(
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata:
  name: ${CLUSTER}-pool
spec:
  disabled: ${INFRA_POOL_DISABLED}
  blocks:
  - start: ${CILIUM_LB_POOL_START}
    stop: ${CILIUM_LB_POOL_END}
)")},
                opts);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  auto pools = r.snapshot->of_kind("CiliumLoadBalancerIPPool");
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0]->meta.name, "infra-pool");
  k8s::Field spec(pools[0]->raw.node()["spec"], "spec");
  EXPECT_EQ(spec["disabled"].boolean(), false);
  EXPECT_EQ(pools[0]->raw.node()["spec"]["disabled"].as<bool>(), false);  // a YAML boolean
  EXPECT_EQ(spec["blocks"].items()[0]["start"].str(), "10.25.11.100");
  EXPECT_EQ(r.snapshot->settings.at("CLUSTER"), "infra");
  EXPECT_EQ(r.stats.substituted, 1u);
  // The settings ConfigMap itself is taken as written.
  ASSERT_EQ(r.snapshot->config_maps.size(), 1u);
  EXPECT_EQ(r.snapshot->config_maps[0].data.at("LITERAL"), "${NOT_A_VARIABLE}");
  EXPECT_EQ(r.snapshot->settings.at("LITERAL"), "${NOT_A_VARIABLE}");
}

TEST(Loader, DefaultsApplyWithoutClusterSettings) {
  auto r = load({mf("svc.yaml", service("web-${CLUSTER:=local}", "${PORT:-8080}"))});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.snapshot->services[0].meta.name, "web-local");
  EXPECT_EQ(r.snapshot->services[0].ports[0].port, 8080);
}

TEST(Loader, UndefinedVariableNamesFileDocumentObjectFieldAndVariable) {
  auto r = load({mf("flux-system/settings.yaml", kSettings),
                 mf("apps/web.yaml", service("ok") + "---\n" +
                                         service("web", "80",
                                                 "  annotations:\n    lbipam.cilium.io/ips: "
                                                 "${GATEWAY_IP}\n"))});
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.source.file, "tree/apps/web.yaml");
  EXPECT_EQ(e.source.document, 1);
  EXPECT_EQ(e.object, "Service demo/web");
  EXPECT_EQ(e.field, "metadata.annotations.lbipam.cilium.io/ips");
  EXPECT_NE(e.message.find("GATEWAY_IP"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("ConfigMap flux-system/cluster-settings"), std::string::npos)
      << e.message;
}

TEST(Loader, SettingsAreReadFromFluxSystemOnly) {
  std::string elsewhere = kSettings;
  elsewhere.replace(elsewhere.find("flux-system"), 11, "default");
  auto r = load({mf("settings.yaml", elsewhere), mf("svc.yaml", service("web-${CLUSTER}"))});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].message.find("no ConfigMap flux-system/cluster-settings in the tree"),
            std::string::npos)
      << r.errors[0].message;
}

TEST(Loader, DuplicateSettingsAreAnError) {
  auto r = load({mf("a.yaml", kSettings), mf("b.yaml", kSettings)});
  ASSERT_FALSE(r.ok());
  bool named_both = false;
  for (auto& e : r.errors) {
    if (e.source.file == "tree/b.yaml" && e.message.find("tree/a.yaml") != std::string::npos) {
      named_both = true;
    }
  }
  EXPECT_TRUE(named_both) << all_errors(r);
}

TEST(Loader, InvalidVariableNameInSettings) {
  std::string s = kSettings;
  s += "  BAD-NAME: x\n";
  auto r = load({mf("settings.yaml", s)});
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].field, "data.BAD-NAME");
}

TEST(Loader, SettingsFromSecretOverrideConfigMap) {
  ManifestOptions opts;
  opts.substitute_from.push_back({"Secret", "flux-system", "cluster-secrets", true});
  auto r = load({mf("settings.yaml", kSettings), mf("secret.yaml", R"(
apiVersion: v1
kind: Secret
metadata: {name: cluster-secrets, namespace: flux-system}
data:
  CLUSTER: b3ZlcnJpZGRlbg==
)"),
                 mf("svc.yaml", service("web-${CLUSTER}"))},
                opts);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.snapshot->services[0].meta.name, "web-overridden");
}

TEST(Loader, RequiredSettingsMissing) {
  ManifestOptions opts;
  opts.substitute_from[0].optional = false;
  auto r = load({mf("svc.yaml", service("web"))}, opts);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].str().find("ConfigMap flux-system/cluster-settings"), std::string::npos);
}

TEST(Loader, SubstitutionDisabledByAnnotation) {
  auto cm = R"(
apiVersion: v1
kind: ConfigMap
metadata:
  name: script
  namespace: demo
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  run.sh: echo ${HOME} $$
)";
  auto r = load({mf("cm.yaml", cm)});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.snapshot->config_maps[0].data.at("run.sh"), "echo ${HOME} $$");
}

TEST(Loader, EscapedVariableIsKeptLiterally) {
  auto r = load({mf("cm.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: demo}\n"
                    "data:\n  tpl: \"$${USER} costs $$5\"\n")});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.snapshot->config_maps[0].data.at("tpl"), "${USER} costs $5");
}

TEST(Loader, IgnoredKindsAreCountedAndNotSubstituted) {
  auto r = load({mf("deploy.yaml", R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  template:
    spec:
      containers: [{name: web, image: "nginx:${UNDEFINED_TAG}"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: demo}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: cluster, namespace: flux-system}
spec:
  postBuild:
    substitute:
      doc: "supports ${var:position} and ${var/substring/replacement}"
)"),
                 mf("kustomization.yaml", "resources:\n- deploy.yaml\n"),
                 mf("svc.yaml", service("web"))});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.snapshot->ignored_kinds.at("Deployment"), 2);
  EXPECT_EQ(r.snapshot->ignored_kinds.at("Kustomization"), 1);
  EXPECT_EQ(r.stats.ignored, 3u);
  EXPECT_EQ(r.stats.files, 2u);  // kustomization.yaml is build configuration, not a manifest
  EXPECT_EQ(r.snapshot->services.size(), 1u);
}

TEST(Loader, RegisteredKindsAreValidated) {
  ManifestOptions opts;
  opts.registry = pool_registry();
  auto r = load({mf("pool.yaml", R"(
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: p}
spec:
  blocks: [{start: 10.0.0.1, stop: 10.0.0.999}]
---
apiVersion: cilium.io/v1
kind: CiliumLoadBalancerIPPool
metadata: {name: q}
)")},
                opts);
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_EQ(r.errors[0].field, "spec.blocks[0].stop");
  EXPECT_EQ(r.errors[1].field, "apiVersion");
  // Without the registry the same kind is ignored, not validated.
  auto r2 = load({mf("pool.yaml",
                     "apiVersion: cilium.io/v2alpha1\nkind: CiliumLoadBalancerIPPool\n"
                     "metadata: {name: p}\nspec: {blocks: [{start: nonsense}]}\n")});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2.snapshot->ignored_kinds.at("CiliumLoadBalancerIPPool"), 1);
}

TEST(Loader, ListKindsAreExpanded) {
  auto r = load({mf("list.yaml", R"(
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: demo}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: demo}
---
apiVersion: v1
kind: ServiceList
items:
- metadata: {name: a, namespace: demo}
  spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
- metadata: {name: b, namespace: demo}
  spec: {clusterIP: 10.96.0.2, ports: [{port: 81}]}
)")});
  ASSERT_TRUE(r.ok()) << all_errors(r);
  ASSERT_EQ(r.snapshot->namespaces.size(), 1u);
  ASSERT_EQ(r.snapshot->services.size(), 2u);
  EXPECT_EQ(r.snapshot->services[1].meta.name, "b");
  EXPECT_EQ(r.snapshot->services[1].source.document, 1);
  EXPECT_EQ(r.snapshot->ignored_kinds.at("Deployment"), 1);
}

TEST(Loader, ErrorInsideAListNamesTheItem) {
  auto r = load({mf("list.yaml", R"(
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: demo}
  spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: b, namespace: demo}
  spec: {clusterIP: 10.96.0.2, ports: [{port: 80, protocol: ICMP}]}
- apiVersion: v1
  kind: Service
  metadata: {namespace: demo}
)")});
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_EQ(r.errors[0].object, "Service demo/b");
  EXPECT_EQ(r.errors[0].field, "items[1].spec.ports[0].protocol");
  EXPECT_EQ(r.errors[1].field, "items[2].metadata.name");
}

TEST(Loader, DuplicateObjectsNameBothPlaces) {
  auto r = load({mf("a.yaml", service("web")), mf("b/c.yaml", "# copy\n" + service("web"))});
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].source.file, "tree/b/c.yaml");
  EXPECT_NE(r.errors[0].message.find("duplicate"), std::string::npos);
  EXPECT_NE(r.errors[0].message.find("tree/a.yaml (document 0)"), std::string::npos)
      << r.errors[0].message;
}

TEST(Loader, DuplicateObjectsInOneFile) {
  auto r =
      load({mf("a.yaml", service("web") + "---\n" + service("api") + "---\n" + service("web"))});
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].source.document, 2);
  EXPECT_NE(r.errors[0].message.find("first in tree/a.yaml (document 0)"), std::string::npos)
      << r.errors[0].message;
}

TEST(Loader, ErrorsStayUntilFixedAndUnchangedReloadsRepeatThem) {
  ManifestLoader loader;
  std::vector<ManifestFile> files{mf("a.yaml", service("a", "0"))};
  auto r1 = loader.load_files(files);
  auto r2 = loader.load_files(files);
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(r2.unchanged);
  EXPECT_EQ(all_errors(r1), all_errors(r2));
  files[0] = mf("a.yaml", service("a", "1"));
  EXPECT_TRUE(loader.load_files(files).ok());
}

TEST(Loader, SameNameInOtherNamespaceOrKindIsNotADuplicate) {
  auto other_ns = service("web");
  other_ns.replace(other_ns.find("demo"), 4, "prod");
  auto r = load({mf("a.yaml", service("web")), mf("b.yaml", other_ns),
                 mf("c.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: "
                    "demo}\n")});
  ASSERT_TRUE(r.ok()) << all_errors(r);
}

TEST(Loader, SettingsChangeReappliesToCachedFiles) {
  // Only the settings change: the other file comes from the parse cache and must be substituted
  // afresh (the cache keeps the text as written, never a substituted copy).
  ManifestLoader loader;
  auto settings = [](const std::string& cluster) {
    return mf("settings.yaml",
              "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-settings, namespace: "
              "flux-system}\ndata: {CLUSTER: " +
                  cluster + "}\n");
  };
  std::string list =
      "apiVersion: v1\nkind: ServiceList\nitems:\n- metadata:\n    name: "
      "web-${CLUSTER}\n    namespace: prod\n  spec: {clusterIP: 10.96.0.1, ports: "
      "[{port: 80}]}\n";
  auto r1 = loader.load_files(
      {settings("a"), mf("svc.yaml", service("web-${CLUSTER}")), mf("list.yaml", list)});
  ASSERT_TRUE(r1.ok()) << all_errors(r1);
  auto r2 = loader.load_files(
      {settings("b"), mf("svc.yaml", service("web-${CLUSTER}")), mf("list.yaml", list)});
  ASSERT_TRUE(r2.ok()) << all_errors(r2);
  EXPECT_EQ(r2.stats.files_parsed, 1u);
  EXPECT_EQ(r2.stats.files_decoded, 3u);  // both files use the variables that changed
  ASSERT_EQ(r2.snapshot->services.size(), 2u);
  EXPECT_EQ(r2.snapshot->services[0].meta.name, "web-b");
  EXPECT_EQ(r2.snapshot->services[1].meta.name, "web-b");
  // And the first snapshot, already delivered, is untouched by the second load.
  EXPECT_EQ(r1.snapshot->services[0].meta.name, "web-a");
}

TEST(Loader, CacheParsesOnlyChangedFiles) {
  ManifestLoader loader;
  std::vector<ManifestFile> files{mf("a.yaml", service("a")), mf("b.yaml", service("b"))};
  auto r1 = loader.load_files(files);
  ASSERT_TRUE(r1.ok());
  EXPECT_FALSE(r1.unchanged);
  EXPECT_EQ(r1.stats.files_parsed, 2u);
  auto r2 = loader.load_files(files);
  EXPECT_TRUE(r2.unchanged);
  EXPECT_EQ(r2.stats.files_parsed, 0u);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2.snapshot->services.size(), 2u);  // a complete snapshot every time
  files[1] = mf("b.yaml", service("b", "81"));
  auto r3 = loader.load_files(files);
  EXPECT_FALSE(r3.unchanged);
  EXPECT_EQ(r3.stats.files_parsed, 1u);
  EXPECT_EQ(r3.stats.files_decoded, 1u);  // a.yaml's decoded objects are reused
  EXPECT_EQ(r3.snapshot->service("demo", "b")->ports[0].port, 81);
  files.pop_back();
  auto r4 = loader.load_files(files);
  EXPECT_FALSE(r4.unchanged);
  EXPECT_EQ(r4.snapshot->services.size(), 1u);
}

TEST(Loader, ThreadsDoNotChangeTheResult) {
  // Enough files for the loader to use several threads; some bad, some with variables.
  std::vector<ManifestFile> files{mf("flux-system/settings.yaml", kSettings)};
  for (int i = 0; i < 300; ++i) {
    std::string n = std::to_string(i);
    std::string port = i % 97 == 5 ? "0" : std::to_string(1000 + i);
    files.push_back(mf("d" + std::to_string(i % 7) + "/s" + n + ".yaml",
                       service("s" + n + "-${CLUSTER}", port)));
  }
  std::sort(files.begin(), files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.relative < b.relative; });
  auto run = [&](size_t threads, bool break_some) {
    ManifestOptions opts;
    opts.threads = threads;
    auto copy = files;
    if (!break_some) {
      for (auto& f : copy) {
        auto p = f.content.find("port: 0\n");
        if (p != std::string::npos) f.content.replace(p, 8, "port: 1\n");
      }
    }
    return load(copy, opts);
  };
  auto one = run(1, true), four = run(4, true);
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.errors.size(), 4u) << all_errors(one);  // i = 5, 102, 199, 296
  EXPECT_EQ(all_errors(one), all_errors(four));
  auto ok1 = run(1, false), ok4 = run(4, false);
  ASSERT_TRUE(ok1.ok() && ok4.ok()) << all_errors(ok4);
  ASSERT_EQ(ok1.snapshot->services.size(), 300u);
  for (size_t i = 0; i < 300; ++i) {
    EXPECT_EQ(ok1.snapshot->services[i].meta.name, ok4.snapshot->services[i].meta.name);
    EXPECT_EQ(ok1.snapshot->services[i].source.file, ok4.snapshot->services[i].source.file);
  }
}

TEST(Loader, ValidatorExceptionsBecomeErrors) {
  ManifestOptions opts;
  opts.registry.add("Widget", {}, [](const k8s::Object&) { throw std::out_of_range("stoi"); });
  auto r = load({mf("w.yaml", "apiVersion: x/v1\nkind: Widget\nmetadata: {name: w}\n")}, opts);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].object, "Widget w");
  EXPECT_NE(r.errors[0].message.find("stoi"), std::string::npos);
}

void write(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << content;
}

TEST(TreeOnDisk, SortedRecursiveAndSkipsHiddenAndOtherFiles) {
  testing::TempDir dir("source-tree");
  const auto& d = dir.path();
  write(d + "/b.yaml", service("b"));
  write(d + "/a/z.yml", service("az"));
  write(d + "/a.yaml", service("a"));
  write(d + "/.git/objects.yaml", service("hidden"));
  write(d + "/..2024_01_01/x.yaml", service("configmap-volume-internal"));
  write(d + "/.b.yaml.swp", "binary junk");
  write(d + "/README.md", "# not a manifest");
  write(d + "/a/values.json", "{}");
  auto r = load_manifest_tree(d);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  ASSERT_EQ(r.snapshot->services.size(), 3u);
  // Sorted by the whole relative path: "a.yaml" < "a/z.yml" < "b.yaml".
  EXPECT_EQ(r.snapshot->services[0].meta.name, "a");
  EXPECT_EQ(r.snapshot->services[1].meta.name, "az");
  EXPECT_EQ(r.snapshot->services[2].meta.name, "b");
  EXPECT_EQ(r.snapshot->services[1].source.file, d + "/a/z.yml");
}

TEST(TreeOnDisk, SymlinksAreFollowedAndLoopsCut) {
  testing::TempDir dir("source-tree");
  testing::TempDir outside("source-outside");
  const auto& d = dir.path();
  write(d + "/real/other.yaml", service("other"));
  std::filesystem::create_directory_symlink(d, d + "/real/loop");
  std::filesystem::create_symlink(outside.path() + "/web.yaml", d + "/linked.yaml");
  auto r = load_manifest_tree(d);
  // linked.yaml dangles: that is an error, not a silently missing object.
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].source.file, d + "/linked.yaml");
  write(outside.path() + "/web.yaml", service("web"));
  r = load_manifest_tree(d);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  ASSERT_EQ(r.snapshot->services.size(), 2u);  // the loop through real/loop adds nothing
  EXPECT_EQ(r.snapshot->services[0].meta.name, "web");
}

std::string warnings(const TreeLoad& r) {
  std::string s;
  for (auto& w : r.warnings)
    s += w + "\n";
  return s;
}

TEST(TreeOnDisk, SpecialFilesAreReportedAndNeverOpened) {
  testing::TempDir dir("source-tree");
  const auto& d = dir.path();
  write(d + "/web.yaml", service("web"));
  // A FIFO with a manifest name: opening it would block the load until a writer comes.
  ASSERT_EQ(::mkfifo((d + "/pipe.yaml").c_str(), 0600), 0);
  // A symlink to a character device with a manifest name.
  std::filesystem::create_symlink("/dev/null", d + "/null.yaml");
  // A FIFO and a socket-like special under other names: not manifests, so warnings only.
  ASSERT_EQ(::mkfifo((d + "/notes").c_str(), 0600), 0);
  std::filesystem::create_directories(d + "/sub");
  std::filesystem::create_symlink("/dev/zero", d + "/sub/zero");
  auto r = load_manifest_tree(d);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_EQ(r.errors[0].source.file, d + "/null.yaml");
  EXPECT_NE(r.errors[0].message.find("a symlink to a character device"), std::string::npos)
      << all_errors(r);
  EXPECT_EQ(r.errors[1].source.file, d + "/pipe.yaml");
  EXPECT_NE(r.errors[1].message.find("is a FIFO, not a regular file"), std::string::npos)
      << all_errors(r);
  ASSERT_EQ(r.warnings.size(), 2u) << warnings(r);
  EXPECT_EQ(r.warnings[0], d + "/notes: a FIFO; not read");
  EXPECT_EQ(r.warnings[1], d + "/sub/zero: a symlink to a character device; not read");
  // Without the manifest-named ones the tree loads, and still reports the others.
  std::filesystem::remove(d + "/pipe.yaml");
  std::filesystem::remove(d + "/null.yaml");
  r = load_manifest_tree(d);
  ASSERT_TRUE(r.ok()) << all_errors(r);
  EXPECT_EQ(r.snapshot->services.size(), 1u);
  EXPECT_EQ(r.warnings.size(), 2u) << warnings(r);
}

TEST(TreeOnDisk, ReadingAFileReplacedByAFifoDoesNotBlock) {
  testing::TempDir dir("source-tree");
  ASSERT_EQ(::mkfifo((dir.path() + "/late.yaml").c_str(), 0600), 0);
  ManifestFile f{dir.path() + "/late.yaml", "late.yaml", "", ""};
  read_file(f);  // listed as a file, then swapped for a FIFO: must return, with an error
  EXPECT_NE(f.read_error.find("is a FIFO"), std::string::npos) << f.read_error;
}

TEST(TreeOnDisk, SymlinkLoopsAreReported) {
  testing::TempDir dir("source-tree");
  const auto& d = dir.path();
  write(d + "/real/other.yaml", service("other"));
  std::filesystem::create_directory_symlink(d, d + "/real/loop");           // back to the root
  std::filesystem::create_directory_symlink(d + "/real", d + "/zz-again");  // the same dir twice
  std::filesystem::create_symlink("self", d + "/self");                     // a link to itself
  std::filesystem::create_symlink("self.yaml", d + "/self.yaml");
  auto r = load_manifest_tree(d);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].source.file, d + "/self.yaml");
  ASSERT_EQ(r.warnings.size(), 3u) << warnings(r);
  EXPECT_EQ(r.warnings[0], d + "/real/loop: symlink loop (points back to the root); not followed")
      << warnings(r);
  EXPECT_EQ(r.warnings[1], d + "/self: symlink loop; not followed") << warnings(r);
  EXPECT_EQ(r.warnings[2], d + "/zz-again: the same directory as real; read there only")
      << warnings(r);
}

TEST(TreeOnDisk, MissingRootIsAnError) {
  auto r = load_manifest_tree("/nonexistent/netagent/manifests");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].message.find("cannot open manifest directory"), std::string::npos);
}

}  // namespace
}  // namespace netagent::source
