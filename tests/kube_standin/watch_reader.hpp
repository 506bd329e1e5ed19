#pragma once
// A watch stream read line by line, for the protocol tests: a plain synchronous Beast client that
// reports whether the stream ended cleanly (the last chunk) or was cut.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace netagent::testing {

class WatchReader {
 public:
  WatchReader(const std::string& address, const std::string& target) : stream_(io_) {
    auto colon = address.rfind(':');
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(address.substr(0, colon)),
                                      static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    stream_.expires_after(std::chrono::seconds(10));
    stream_.connect(ep);
    namespace http = boost::beast::http;
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, address);
    req.set(http::field::accept, "application/json");
    http::write(stream_, req);
    parser_.body_limit(std::uint64_t(1) << 40);
    http::read_header(stream_, buffer_, parser_);
  }

  unsigned status() const { return parser_.get().result_int(); }
  bool chunked() const { return parser_.chunked(); }

  // The next event line as JSON; nullopt when the stream ended (see ended_cleanly()) or nothing
  // came within `timeout`.
  std::optional<nlohmann::json> next(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      std::string& body = parser_.get().body();
      if (auto nl = body.find('\n', pos_); nl != std::string::npos) {
        std::string line = body.substr(pos_, nl - pos_);
        pos_ = nl + 1;
        return nlohmann::json::parse(line);
      }
      if (done_ || error_) return std::nullopt;
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::milliseconds(0)) return std::nullopt;
      stream_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(left));
      boost::beast::error_code ec;
      boost::beast::http::read_some(stream_, buffer_, parser_, ec);
      if (ec == boost::beast::error::timeout) return std::nullopt;
      if (ec) error_ = ec;
      if (parser_.is_done()) done_ = true;
    }
  }
  // Reads until the stream ends (or `timeout`); true when it ended with the last chunk.
  bool wait_end(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done_ && !error_ && std::chrono::steady_clock::now() < deadline)
      if (!next(std::chrono::duration_cast<std::chrono::milliseconds>(
              deadline - std::chrono::steady_clock::now())))
        if (!done_ && !error_) break;
    return done_;
  }
  bool ended_cleanly() const { return done_; }
  bool cut() const { return error_.has_value(); }
  // What came after the last complete line.
  std::string rest() const { return parser_.get().body().substr(pos_); }

 private:
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::response_parser<boost::beast::http::string_body> parser_;
  size_t pos_ = 0;
  bool done_ = false;
  std::optional<boost::beast::error_code> error_;
};

}  // namespace netagent::testing
