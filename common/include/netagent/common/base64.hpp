#pragma once
// Base64 (RFC 4648 §4, the standard alphabet with padding): Secret data in manifests, etcd's JSON
// gateway `bytes` fields, the Maglev hash seed. Backed by OpenSSL's EVP block coder.
#include <optional>
#include <string>
#include <string_view>

namespace netagent {

std::string base64_encode(std::string_view in);

// Strict decoding: only the standard alphabet, '=' only as the last one or two characters, a
// length that is a multiple of 4 once line breaks and spaces are removed (YAML folding may leave
// them in a Secret's data). nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace netagent
