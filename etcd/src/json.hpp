#pragma once
// Decoding etcd's gRPC-gateway JSON: int64 fields arrive as strings, bytes as base64, fields at
// their default value are left out. Internal to netagent_mesh.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "netagent/common/result.hpp"
#include "netagent/etcd/client.hpp"

namespace netagent::etcd::detail {

Result<nlohmann::json> parse_json(std::string_view text, const std::string& what);
// A (u)int64 field that may be a JSON string or number; 0 when absent or malformed.
int64_t get_i64(const nlohmann::json& j, const char* key);
ResponseHeader parse_header(const nlohmann::json& reply);
Result<KeyValue> parse_kv(const nlohmann::json& kv);
Result<RangeResult> parse_range(std::string_view body);

struct GatewayError {
  std::string message;
  int grpc_code = 0;
};
// The body of a non-200 reply: {"error": "...", "message": "...", "code": N}.
GatewayError gateway_error(unsigned http_status, std::string_view body);
// The error object of a streaming reply: {"grpc_code", "http_code", "message", "http_status"}.
std::string stream_error_text(const nlohmann::json& error);

}  // namespace netagent::etcd::detail
