#include "netagent/api/router.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <tuple>

#include "netagent/common/url.hpp"

namespace netagent::api {

const char* method_name(Method m) {
  switch (m) {
    case Method::Get:
      return "GET";
    case Method::Post:
      return "POST";
    case Method::Put:
      return "PUT";
    case Method::Delete:
      return "DELETE";
  }
  return "?";
}

nlohmann::json ApiError::to_json() const {
  return {{"error", {{"status", status}, {"code", code}, {"message", message}}}};
}

ApiError bad_request(std::string message) {
  return {400, "bad_request", std::move(message)};
}
ApiError not_found(std::string message) {
  return {404, "not_found", std::move(message)};
}
ApiError conflict(std::string message) {
  return {409, "conflict", std::move(message)};
}
ApiError internal(std::string message) {
  return {500, "internal", std::move(message)};
}
ApiError unavailable(std::string message) {
  return {503, "unavailable", std::move(message)};
}

const std::string& Request::param(const std::string& name) const {
  static const std::string empty;
  auto it = params.find(name);
  return it == params.end() ? empty : it->second;
}

std::optional<std::string> Request::query_value(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// "/v1/a/b/" -> {"v1", "a", "b"}: empty segments (doubled or trailing slashes) are ignored.
std::vector<std::string_view> path_segments(std::string_view path) {
  std::vector<std::string_view> out;
  for (auto seg : split(path, '/')) {
    if (!seg.empty()) out.push_back(seg);
  }
  return out;
}

bool is_param(const std::string& seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

}  // namespace

void Router::add(Method method, const std::string& pattern, Handler h) {
  if (pattern.empty() || pattern[0] != '/') {
    throw std::logic_error("API route '" + pattern + "' must be an absolute path");
  }
  Route r{method, pattern, {}, std::move(h), nullptr};
  for (auto seg : path_segments(pattern))
    r.segments.emplace_back(seg);
  for (const auto& other : routes_) {
    if (other.method == method && other.segments.size() == r.segments.size()) {
      bool same = true;
      for (size_t i = 0; i < r.segments.size() && same; ++i) {
        const auto& a = r.segments[i];
        const auto& b = other.segments[i];
        same = a == b || (is_param(a) && is_param(b));
      }
      if (same) {
        throw std::logic_error(std::string("API route ") + method_name(method) + " " + pattern +
                               " registered twice (clashes with " + other.pattern + ")");
      }
    }
  }
  routes_.push_back(std::move(r));
}

void Router::stream(const std::string& pattern, StreamHandler h) {
  add(Method::Get, pattern, nullptr);
  routes_.back().stream = std::move(h);
}

std::variant<Router::Match, ApiError> Router::match(Method method, std::string_view target) const {
  std::string_view raw_path = target;
  std::string_view raw_query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    raw_path = target.substr(0, q);
    raw_query = target.substr(q + 1);
  }
  std::vector<std::string> segs;
  for (auto seg : path_segments(raw_path)) {
    auto decoded = url_decode(seg, false);
    if (!decoded)
      return bad_request("malformed percent-encoding in path '" + std::string(raw_path) + "'");
    segs.push_back(std::move(*decoded));
  }

  // Literal segments win over parameters: /v1/endpoints/summary before /v1/endpoints/{id}.
  const Route* best = nullptr;
  int best_literals = -1;
  std::vector<std::string> allowed;
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    int literals = 0;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      if (is_param(r.segments[i])) continue;
      ok = r.segments[i] == segs[i];
      ++literals;
    }
    if (!ok) continue;
    if (r.method != method) {
      allowed.emplace_back(method_name(r.method));
      continue;
    }
    if (literals > best_literals) {
      best = &r;
      best_literals = literals;
    }
  }
  if (!best) {
    if (!allowed.empty()) {
      std::string list;
      for (const auto& a : allowed)
        list += (list.empty() ? "" : ", ") + a;
      return ApiError{405, "method_not_allowed",
                      std::string(method_name(method)) + " is not allowed on " +
                          std::string(raw_path) + " (allowed: " + list + ")"};
    }
    return not_found("no API endpoint " + std::string(method_name(method)) + " " +
                     std::string(raw_path) + " (GET /v1/routes lists them)");
  }

  Match m;
  m.pattern = best->pattern;
  m.handler = best->handler ? &best->handler : nullptr;
  m.stream = best->stream ? &best->stream : nullptr;
  m.request.method = method;
  m.request.path = "/";
  for (size_t i = 0; i < segs.size(); ++i) {
    m.request.path += (i ? "/" : "") + segs[i];
    if (is_param(best->segments[i])) {
      const auto& name = best->segments[i];
      m.request.params[name.substr(1, name.size() - 2)] = segs[i];
    }
  }
  if (!raw_query.empty()) {
    for (auto pair : split(raw_query, '&')) {
      if (pair.empty()) continue;
      auto eq = pair.find('=');
      auto key = url_decode(pair.substr(0, eq), true);
      auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                                : url_decode(pair.substr(eq + 1), true);
      if (!key || !value) {
        return bad_request("malformed percent-encoding in query '" + std::string(raw_query) + "'");
      }
      m.request.query[*key] = *value;
    }
  }
  return m;
}

std::variant<nlohmann::json, ApiError> parse_body(std::string_view body) {
  if (std::all_of(body.begin(), body.end(), [](char c) { return std::isspace(uint8_t(c)); })) {
    return nlohmann::json();
  }
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    return bad_request(std::string("request body is not valid JSON: ") + e.what());
  }
}

Reply Router::handle(Method method, std::string_view target, std::string_view body) const {
  auto matched = match(method, target);
  if (auto* err = std::get_if<ApiError>(&matched)) return *err;
  auto& m = std::get<Match>(matched);
  if (!m.handler) {
    return bad_request("GET " + m.request.path + " is a streaming endpoint; read it as a stream");
  }
  auto parsed = parse_body(body);
  if (auto* err = std::get_if<ApiError>(&parsed)) return *err;
  m.request.body = std::move(std::get<nlohmann::json>(parsed));
  try {
    return (*m.handler)(m.request);
  } catch (const nlohmann::json::exception& e) {
    // Handlers read the body with .at()/.get<>(): a missing or mistyped field lands here.
    return bad_request(std::string("request body: ") + e.what());
  } catch (const std::exception& e) {
    return internal(std::string("handler for ") + method_name(method) + " " + m.pattern +
                    " failed: " + e.what());
  }
}

std::vector<RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : routes_)
    out.push_back({r.method, r.pattern, bool(r.stream)});
  std::sort(out.begin(), out.end(), [](const RouteInfo& a, const RouteInfo& b) {
    return std::tie(a.pattern, a.method) < std::tie(b.pattern, b.method);
  });
  return out;
}

}  // namespace netagent::api
