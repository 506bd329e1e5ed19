#include "netagent/netctl/client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstring>
#include <limits>

namespace netagent::netctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {

constexpr uint64_t kMaxResponse = 256ull << 20;  // a full conntrack dump can be large

std::string lower_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// One connection to the agent. Each step runs the private io_context until that step is done,
// bounded by the stream's timeout, so a hung agent cannot hang netctl.
class Connection {
 public:
  Connection(std::string path, std::chrono::milliseconds timeout)
      : path_(std::move(path)), timeout_(timeout), stream_(io_) {}

  Status connect() {
    beast::error_code result;
    stream_.expires_after(timeout_);
    stream_.async_connect(local::endpoint(path_), [&](beast::error_code ec) { result = ec; });
    run();
    if (result == beast::error::timeout) {
      return Error{
          "netagent at " + path_ + " did not accept a connection within " + seconds_text(timeout_),
          ETIMEDOUT};
    }
    if (result) return Error{unreachable_message(path_, result.value()), result.value()};
    return {};
  }

  Status send(const std::string& method, const std::string& target, const nlohmann::json* body) {
    http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) return Error{"unknown HTTP method " + method, EINVAL};
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "netagent");
    req.set(http::field::user_agent, "netctl");
    req.set(http::field::accept, "application/json");
    if (body) {
      req.set(http::field::content_type, "application/json");
      req.body() = body->dump();
    }
    req.keep_alive(false);
    req.prepare_payload();
    beast::error_code result;
    stream_.expires_after(timeout_);
    http::async_write(stream_, req, [&](beast::error_code ec, size_t) { result = ec; });
    run();
    return check(result, "send request to");
  }

  Status read_header(http::response_parser<http::string_body>& parser) {
    beast::error_code result;
    stream_.expires_after(timeout_);
    http::async_read_header(stream_, buffer_, parser,
                            [&](beast::error_code ec, size_t) { result = ec; });
    run();
    return check(result, "read the answer of");
  }

  Status read_rest(http::response_parser<http::string_body>& parser) {
    beast::error_code result;
    stream_.expires_after(timeout_);
    http::async_read(stream_, buffer_, parser, [&](beast::error_code ec, size_t) { result = ec; });
    run();
    return check(result, "read the answer of");
  }

  // Reads whatever arrives (no timeout: a stream may be quiet for long).
  beast::error_code read_some(http::response_parser<http::string_body>& parser) {
    beast::error_code result;
    stream_.expires_never();
    http::async_read_some(stream_, buffer_, parser,
                          [&](beast::error_code ec, size_t) { result = ec; });
    run();
    return result;
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(local::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void run() {
    io_.restart();
    io_.run();
  }

  Status check(beast::error_code ec, const std::string& what) {
    if (!ec) return {};
    if (ec == beast::error::timeout) {
      return Error{"netagent at " + path_ + " did not answer within " + seconds_text(timeout_) +
                       " (use --timeout to wait longer)",
                   ETIMEDOUT};
    }
    return Error{"cannot " + what + " netagent at " + path_ + ": " + ec.message(),
                 ec.category() == boost::system::system_category() ? ec.value() : EPROTO};
  }

  std::string path_;
  std::chrono::milliseconds timeout_;
  asio::io_context io_;
  beast::basic_stream<local> stream_;
  beast::flat_buffer buffer_;
};

Result<nlohmann::json> parse_json(const std::string& body, const std::string& what) {
  if (body.empty()) return nlohmann::json();
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    return Error{"netagent sent " + what + " that is not JSON: " + e.what(), EPROTO};
  }
}

}  // namespace

std::string unreachable_message(const std::string& path, int errnum) {
  std::string why = lower_first(std::strerror(errnum));
  std::string hint;
  switch (errnum) {
    case ECONNREFUSED:
    case ENOENT:
      hint = " — is the agent running? (--socket/NETCTL_SOCKET)";
      break;
    case EACCES:
    case EPERM:
      hint = " — the API socket is root-only: run netctl as root";
      break;
    default:
      hint = " (--socket/NETCTL_SOCKET)";
  }
  return "cannot reach netagent at " + path + ": " + why + hint;
}

std::string error_message(const Response& r) {
  const auto& b = r.body;
  if (b.is_object() && b.contains("error") && b["error"].is_object()) {
    const auto& e = b["error"];
    std::string msg = e.value("message", std::string("(no message)"));
    std::string code = e.value("code", std::string());
    return msg + " (HTTP " + std::to_string(r.status) + (code.empty() ? "" : " " + code) + ")";
  }
  return "unexpected answer from netagent (HTTP " + std::to_string(r.status) + ")";
}

Client::Client(std::string socket_path, std::chrono::milliseconds timeout)
    : path_(std::move(socket_path)), timeout_(timeout) {}

Result<Response> Client::request(const std::string& method, const std::string& target,
                                 const nlohmann::json* body) const {
  Connection c(path_, timeout_);
  if (auto st = c.connect(); !st) return st.error();
  if (auto st = c.send(method, target, body); !st) return st.error();
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponse);
  if (auto st = c.read_rest(parser); !st) return st.error();
  c.close();
  auto res = parser.release();
  Response out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  auto parsed = parse_json(res.body(), "an answer");
  if (!parsed) return parsed.error();
  out.body = std::move(*parsed);
  return out;
}

Result<nlohmann::json> Client::call(const std::string& method, const std::string& target,
                                    const nlohmann::json* body) const {
  auto r = request(method, target, body);
  if (!r) return r.error();
  if (r->status < 200 || r->status > 299) return Error{error_message(*r), 0};
  return std::move(r->body);
}

Result<nlohmann::json> Client::get(const std::string& target) const {
  return call("GET", target, nullptr);
}
Result<nlohmann::json> Client::post(const std::string& target, const nlohmann::json& body) const {
  return call("POST", target, &body);
}
Result<nlohmann::json> Client::put(const std::string& target, const nlohmann::json& body) const {
  return call("PUT", target, &body);
}
Result<nlohmann::json> Client::del(const std::string& target) const {
  return call("DELETE", target, nullptr);
}

Status Client::stream(const std::string& target,
                      const std::function<bool(const nlohmann::json&)>& on_line) const {
  Connection c(path_, timeout_);
  if (auto st = c.connect(); !st) return st;
  if (auto st = c.send("GET", target, nullptr); !st) return st;
  http::response_parser<http::string_body> parser;
  // A stream has no length. (Not boost::none: Boost 1.74 then rejects every body that has a
  // Content-Length, as `len > none` is true.)
  parser.body_limit(std::numeric_limits<uint64_t>::max());
  if (auto st = c.read_header(parser); !st) return st;

  const int status = static_cast<int>(parser.get().result_int());
  if (status != 200) {
    if (auto st = c.read_rest(parser); !st) return st;
    Response r{status, "", nullptr};
    auto parsed = parse_json(parser.get().body(), "an answer");
    if (parsed) r.body = std::move(*parsed);
    return Error{error_message(r), 0};
  }

  std::string pending;  // bytes of a line not yet complete
  bool stop = false;
  std::optional<Error> failure;
  auto feed = [&](std::string_view data) {
    pending.append(data.data(), data.size());
    size_t start = 0;
    for (size_t nl; !stop && (nl = pending.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      std::string line = pending.substr(start, nl - start);
      if (line.empty()) continue;
      auto parsed = parse_json(line, "a stream line");
      if (!parsed) {
        failure = parsed.error();
        stop = true;
      } else if (!on_line(*parsed)) {
        stop = true;
      }
    }
    pending.erase(0, start);
  };
  // The parser keeps a reference to the callback: it must outlive the reads below.
  auto on_chunk = [&](uint64_t, boost::beast::string_view body, beast::error_code&) {
    feed(std::string_view(body.data(), body.size()));
    return body.size();
  };
  parser.on_chunk_body(on_chunk);

  while (!stop && !parser.is_done()) {
    beast::error_code ec = c.read_some(parser);
    if (ec == http::error::end_of_stream || ec == asio::error::eof) break;
    if (ec) {
      c.close();
      return Error{"stream from netagent at " + path_ + " broke: " + ec.message(), ec.value()};
    }
  }
  // A non-chunked answer (an endpoint that is not a stream) arrives as a plain body.
  if (!stop && !parser.get().body().empty()) feed(parser.get().body() + "\n");
  c.close();
  if (failure) return *failure;
  return {};
}

}  // namespace netagent::netctl
