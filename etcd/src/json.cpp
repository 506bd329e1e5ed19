#include "json.hpp"

#include <charconv>

#include "netagent/common/base64.hpp"

namespace netagent::etcd::detail {

using json = nlohmann::json;

Result<json> parse_json(std::string_view text, const std::string& what) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    std::string head(text.substr(0, 120));
    return Error{what + ": reply is not a JSON object: " + head};
  }
  return j;
}

int64_t get_i64(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_unsigned()) return int64_t(it->get<uint64_t>());
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    // Cluster and member ids are uint64 and may not fit int64: parse unsigned, keep the bits.
    uint64_t u = 0;
    if (!s.empty() && s[0] == '-') {
      int64_t v = 0;
      std::from_chars(s.data(), s.data() + s.size(), v);
      return v;
    }
    std::from_chars(s.data(), s.data() + s.size(), u);
    return int64_t(u);
  }
  return 0;
}

ResponseHeader parse_header(const json& reply) {
  ResponseHeader h;
  auto it = reply.find("header");
  if (it == reply.end() || !it->is_object()) return h;
  h.cluster_id = uint64_t(get_i64(*it, "cluster_id"));
  h.member_id = uint64_t(get_i64(*it, "member_id"));
  h.revision = get_i64(*it, "revision");
  return h;
}

Result<KeyValue> parse_kv(const json& j) {
  KeyValue kv;
  if (!j.is_object()) return Error{"key-value is not an object"};
  auto key = j.find("key");
  if (key == j.end() || !key->is_string()) return Error{"key-value without a key"};
  auto k = base64_decode(key->get_ref<const std::string&>());
  if (!k) return Error{"key is not base64"};
  kv.key = std::move(*k);
  if (auto v = j.find("value"); v != j.end() && v->is_string()) {
    auto d = base64_decode(v->get_ref<const std::string&>());
    if (!d) return Error{"value of " + kv.key + " is not base64"};
    kv.value = std::move(*d);
  }
  kv.create_revision = get_i64(j, "create_revision");
  kv.mod_revision = get_i64(j, "mod_revision");
  kv.version = get_i64(j, "version");
  kv.lease = get_i64(j, "lease");
  return kv;
}

Result<RangeResult> parse_range(std::string_view body) {
  auto j = parse_json(body, "/v3/kv/range");
  if (!j) return j.error();
  RangeResult r;
  r.header = parse_header(*j);
  r.count = get_i64(*j, "count");
  r.more = j->value("more", false);
  if (auto kvs = j->find("kvs"); kvs != j->end() && kvs->is_array()) {
    r.kvs.reserve(kvs->size());
    for (const auto& e : *kvs) {
      auto kv = parse_kv(e);
      if (!kv) return kv.error().wrap("/v3/kv/range");
      r.kvs.push_back(std::move(*kv));
    }
  }
  return r;
}

GatewayError gateway_error(unsigned http_status, std::string_view body) {
  GatewayError e;
  auto j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto m = j.find("message"); m != j.end() && m->is_string())
      e.message = m->get<std::string>();
    if (e.message.empty()) {
      if (auto m = j.find("error"); m != j.end()) {
        e.message = m->is_string() ? m->get<std::string>() : stream_error_text(*m);
      }
    }
    e.grpc_code = int(get_i64(j, "code"));
    if (auto err = j.find("error"); err != j.end() && err->is_object()) {
      e.grpc_code = int(get_i64(*err, "grpc_code"));
    }
  }
  if (e.message.empty()) e.message = std::string(body.substr(0, 200));
  e.message += " (HTTP " + std::to_string(http_status);
  if (e.grpc_code != 0) e.message += ", gRPC code " + std::to_string(e.grpc_code);
  e.message += ")";
  return e;
}

std::string stream_error_text(const json& error) {
  if (error.is_string()) return error.get<std::string>();
  if (!error.is_object()) return error.dump();
  std::string msg = error.value("message", std::string("error"));
  if (auto c = get_i64(error, "grpc_code"); c != 0) msg += " (gRPC code " + std::to_string(c) + ")";
  return msg;
}

}  // namespace netagent::etcd::detail
