// Decoding cost of the core kinds: the floor under every manifest-driven control-plane figure.
#include <benchmark/benchmark.h>

#include "netagent/k8s/decode.hpp"

namespace {

void BM_DecodeService(benchmark::State& state) {
  auto doc = YAML::Load(R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps, labels: {app: web}}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: https, port: 443, targetPort: 8443}]
)");
  auto obj = netagent::k8s::read_object(doc, {"bench.yaml", 0});
  for (auto _ : state) {
    auto s = netagent::k8s::decode_service(obj);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_DecodeService);

}  // namespace
