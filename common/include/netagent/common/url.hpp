#pragma once
// Percent-encoding of URL components (RFC 3986 §2.1): the agent API's router decodes paths and
// queries, netctl encodes what it puts into them.
#include <optional>
#include <string>
#include <string_view>

namespace netagent {

// Percent-decoding of a URL component ('+' is a space in query strings only). nullopt on a '%'
// that is not followed by two hex digits.
std::optional<std::string> url_decode(std::string_view s, bool plus_is_space);
// Percent-encoding of one path segment or query value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view s);

}  // namespace netagent
