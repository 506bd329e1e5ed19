#pragma once
// Base64 (RFC 4648, with padding) for etcd's JSON gateway, which carries keys and values as
// base64 `bytes` fields. Backed by OpenSSL's EVP block coder.
#include <optional>
#include <string>
#include <string_view>

namespace netagent::mesh::detail {

std::string base64_encode(std::string_view in);
// nullopt when `in` is not valid padded base64.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace netagent::mesh::detail
