// ServiceChanges: which snapshot changes compile only the services whose EndpointSlices or
// ClusterMesh backends changed, which compile everything, and that the result is always what a
// full compile gives.
#include "netagent/lb/service_changes.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "netagent/k8s/decode.hpp"
#include "netagent/testing/manifests.hpp"

namespace netagent::lb {
namespace {

Ipv4Addr ip(const char* s) {
  return *Ipv4Addr::parse(s);
}

std::string service(int i, int port = 80) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: svc" + std::to_string(i) +
         ", namespace: t}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0." +
         std::to_string(10 + i) + "\n  ports: [{name: http, port: " + std::to_string(port) +
         ", targetPort: 8080, nodePort: " + std::to_string(30080 + i) + "}]\n";
}

std::string slice(const std::string& svc, const std::string& name,
                  std::vector<std::string> addresses) {
  std::string y = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
                  ", namespace: t, labels: {kubernetes.io/service-name: " + svc +
                  "}}\nports: [{name: http, port: 8080}]\nendpoints:\n";
  for (const auto& a : addresses)
    y += "- {addresses: [" + a + "], nodeName: node-a}\n";
  return y;
}

// The snapshot of these documents, each object's digest a hash of its document (as the manifest
// source gives them), or 0 for the documents named in `no_digest`.
k8s::Snapshot snapshot(const std::vector<std::string>& docs,
                       const std::set<std::string>& no_digest = {}) {
  std::string yaml;
  for (const auto& doc : docs)
    yaml += doc + "\n---\n";
  auto s = netagent::testing::snapshot_from_yaml(yaml, {.digests = true}, "t.yaml");
  for (auto& svc : s.services) {
    if (no_digest.count(svc.meta.name)) svc.source.digest = 0;
  }
  for (auto& es : s.endpoint_slices) {
    if (no_digest.count(es.meta.name)) es.source.digest = 0;
  }
  return s;
}

struct Inputs {
  std::vector<std::string> docs;
  std::set<std::string> no_digest;
  NodeView node{"node-a", {ip("10.25.11.11")}};
  LoadBalancerIps ips;
  ModelOptions opts;
  ExtraBackends extra;
};

struct Step {
  const char* name;
  std::function<void(Inputs&)> edit;
  bool full;
  size_t compiled;  // services compiled (incremental steps only)
  std::set<std::string> changed;
};

std::set<std::string> names(const ServiceChangeSet& c) {
  std::set<std::string> out;
  for (const auto& [svc, fronts] : c.services)
    out.insert(svc);
  return out;
}

void expect_same(const DesiredServices& got, const DesiredServices& want, const char* step) {
  ASSERT_EQ(got.frontends.size(), want.frontends.size()) << step;
  for (size_t i = 0; i < want.frontends.size(); ++i) {
    const auto& g = got.frontends[i];
    const auto& w = want.frontends[i];
    EXPECT_EQ(g.key, w.key) << step;
    EXPECT_EQ(g.service, w.service) << step;
    EXPECT_EQ(g.flags, w.flags) << step;
    EXPECT_EQ(g.group, w.group) << step;
    EXPECT_EQ(g.backends, w.backends) << step << ": " << w.key.str();
  }
  for (const auto& f : want.frontends) {
    for (const auto& b : f.backends)
      EXPECT_TRUE(got.backends.count(b)) << step << ": no info for " << b.str();
  }
}

TEST(ServiceChanges, CompilesOnlyWhatChangedAndAlwaysMatchesAFullCompile) {
  Inputs in;
  for (int i = 0; i < 5; ++i) {
    in.docs.push_back(service(i));
    in.docs.push_back(
        slice("svc" + std::to_string(i), "svc" + std::to_string(i) + "-1",
              {"10.1." + std::to_string(i) + ".1", "10.1." + std::to_string(i) + ".2"}));
    in.ips["t/svc" + std::to_string(i)] = {Ipv4Addr{ip("10.25.0.0").value + uint32_t(i)}};
  }
  in.docs.push_back(slice("svc4", "svc4-2", {"10.1.4.3"}));

  auto find_doc = [](Inputs& x, const std::string& needle) -> std::string& {
    for (auto& d : x.docs) {
      if (d.find(needle) != std::string::npos) return d;
    }
    ADD_FAILURE() << "no document with " << needle;
    return x.docs.front();
  };
  const std::vector<Step> steps = {
      {"first update", [](Inputs&) {}, true, 0, {"t/svc0", "t/svc1", "t/svc2", "t/svc3", "t/svc4"}},
      {"no change", [](Inputs&) {}, false, 0, {}},
      {"slice edited",
       [&](Inputs& x) { find_doc(x, "name: svc1-1") = slice("svc1", "svc1-1", {"10.1.1.9"}); },
       false,
       1,
       {"t/svc1"}},
      {"slice added",
       [](Inputs& x) { x.docs.insert(x.docs.begin() + 5, slice("svc2", "svc2-2", {"10.1.2.7"})); },
       false,
       1,
       {"t/svc2"}},
      {"slice removed", [](Inputs& x) { x.docs.pop_back(); }, false, 1, {"t/svc4"}},
      {"slice of a service that does not exist",
       [](Inputs& x) { x.docs.push_back(slice("ghost", "ghost-1", {"10.1.9.1"})); },
       false,
       0,
       {}},
      {"slices at both ends edited",
       [&](Inputs& x) {
         find_doc(x, "name: svc0-1") = slice("svc0", "svc0-1", {"10.1.0.1"});
         find_doc(x, "name: ghost-1") = slice("svc4", "ghost-1", {"10.1.4.8"});
       },
       false,
       5,
       {"t/svc0", "t/svc4"}},
      {"same backends again",
       [&](Inputs& x) {
         find_doc(x, "name: svc3-1") = slice("svc3", "svc3-1", {"10.1.3.2", "10.1.3.1"});
       },
       false,
       1,
       {}},
      {"service edited",
       [&](Inputs& x) { find_doc(x, "name: svc0,") = service(0, 81); },
       true,
       0,
       {"t/svc0"}},
      {"LoadBalancer IPs changed",
       [](Inputs& x) { x.ips["t/svc3"] = {ip("10.25.1.3")}; },
       true,
       0,
       {"t/svc3"}},
      {"node changed",
       [](Inputs& x) { x.node.addresses.push_back(ip("10.25.11.12")); },
       true,
       0,
       {"t/svc0", "t/svc1", "t/svc2", "t/svc3", "t/svc4"}},
      {"options changed",
       [](Inputs& x) { x.opts.maglev = false; },
       true,
       0,
       {"t/svc0", "t/svc1", "t/svc2", "t/svc3", "t/svc4"}},
      {"ClusterMesh backends changed",
       [](Inputs& x) {
         BackendInfo b;
         b.addr = {ip("10.9.0.1"), 8080, 6};
         b.cluster_id = 2;
         b.cluster = "east";
         x.extra.by_service_port["t/svc2/http"] = {b};
       },
       false,
       1,
       {"t/svc2"}},
      {"ClusterMesh backends replace the local ones",
       [](Inputs& x) { x.extra.replace_local.insert("t/svc2/http"); },
       false,
       1,
       {"t/svc2"}},
      {"ClusterMesh backends gone", [](Inputs& x) { x.extra = {}; }, false, 1, {"t/svc2"}},
      {"slice without a digest",
       [&](Inputs& x) {
         find_doc(x, "name: svc1-1") = slice("svc1", "svc1-1", {"10.1.1.10"});
         x.no_digest = {"svc1-1"};
       },
       true,
       0,
       {"t/svc1"}},
      {"digests again", [&](Inputs& x) { x.no_digest.clear(); }, false, 1, {}},
      {"slice removed and another edited",
       [&](Inputs& x) {
         std::erase_if(x.docs, [](const std::string& d) {
           return d.find("name: svc2-2") != std::string::npos;
         });
         find_doc(x, "name: svc3-1") = slice("svc3", "svc3-1", {"10.1.3.5"});
       },
       false,
       2,
       {"t/svc2", "t/svc3"}},
  };

  ServiceChanges changes;
  for (const auto& step : steps) {
    step.edit(in);
    auto snap = snapshot(in.docs, in.no_digest);
    auto c = changes.update(snap, in.node, in.ips, in.opts, &in.extra);
    EXPECT_EQ(c.full, step.full) << step.name;
    if (!step.full) {
      EXPECT_EQ(c.compiled, step.compiled) << step.name;
    }
    EXPECT_EQ(names(c), step.changed) << step.name;
    expect_same(changes.current(), compile_services(snap, in.node, in.ips, in.opts, &in.extra),
                step.name);
  }
}

TEST(ServiceChanges, LoadBalancerIpsByGenerationAreBuiltOnlyForAFullCompile) {
  Inputs in;
  in.docs = {service(0), slice("svc0", "svc0-1", {"10.1.0.1"})};
  int builds = 0;
  LoadBalancerIps ips{{"t/svc0", {ip("10.25.0.1")}}};
  LoadBalancerIpsSource src{7, [&] {
                              builds++;
                              return ips;
                            }};
  ServiceChanges changes;
  auto snap = snapshot(in.docs);
  EXPECT_TRUE(changes.update(snap, in.node, src, in.opts, nullptr, 1).full);
  EXPECT_EQ(builds, 1);
  // A slice changes: the IPs of the last full compile are used, nothing is built.
  in.docs[1] = slice("svc0", "svc0-1", {"10.1.0.2"});
  snap = snapshot(in.docs);
  auto c = changes.update(snap, in.node, src, in.opts, nullptr, 1);
  EXPECT_FALSE(c.full);
  EXPECT_EQ(builds, 1);
  ASSERT_EQ(c.services.count("t/svc0"), 1u);
  bool lb_frontend = false;
  for (const auto& f : c.services["t/svc0"])
    lb_frontend |= f.key.addr == ip("10.25.0.1");
  EXPECT_TRUE(lb_frontend) << "the LoadBalancer frontend kept its backends";
  // A new generation: everything is compiled with the new IPs.
  ips["t/svc0"] = {ip("10.25.0.9")};
  src.generation = 8;
  c = changes.update(snap, in.node, src, in.opts, nullptr, 1);
  EXPECT_TRUE(c.full);
  EXPECT_EQ(builds, 2);
  EXPECT_EQ(names(c), std::set<std::string>{"t/svc0"});
  // ClusterMesh backends are compared per service when their generation changes.
  ExtraBackends extra;
  BackendInfo b;
  b.addr = {ip("10.9.0.1"), 8080, 6};
  b.cluster_id = 2;
  extra.by_service_port["t/svc0/http"] = {b};
  c = changes.update(snap, in.node, src, in.opts, &extra, 1);
  EXPECT_TRUE(c.services.empty()) << "same generation: not looked at";
  c = changes.update(snap, in.node, src, in.opts, &extra, 2);
  EXPECT_FALSE(c.full);
  EXPECT_EQ(c.compiled, 1u);
  EXPECT_EQ(names(c), std::set<std::string>{"t/svc0"});
  EXPECT_EQ(builds, 2);
}

}  // namespace
}  // namespace netagent::lb
