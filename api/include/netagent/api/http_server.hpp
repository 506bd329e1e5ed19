#pragma once
// The one HTTP/1.1 server of the agent (Boost.Beast, asynchronous, on the agent's io_context),
// behind every listener: the API on its unix socket (server.hpp) and Prometheus' /metrics on TCP
// (metrics/http_server.hpp). It owns the connections: reading requests within limits, keep-alive,
// the idle and request timeouts, the connection cap, chunked streams written from any thread, and
// ending everything at stop(). What a request means, and where the listening socket comes from,
// is its user's.
//
// Resource limits, so that no client can take the agent's file descriptors or hold its sockets:
//  - at most max_connections connections are served at once; one more is accepted and closed at
//    once (counted as rejected), so the listener neither spins nor leaves it in the backlog;
//  - a connection waiting for a request is closed after idle_timeout; a request must arrive whole
//    (header and body) within request_timeout of its first byte, and its response be written
//    within request_timeout;
//  - when accept() fails for want of descriptors (EMFILE, ENFILE) the server closes a spare
//    descriptor it keeps for this, accepts and closes the pending connection, takes the spare
//    again, and retries after a pause: the listener never spins on an error.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace netagent::api {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// The server's side of one chunked response. Chunks may be written from any thread; they are
// queued and sent in order on the io_context. When the client reads slower than chunks arrive,
// the queue is capped and further chunks are dropped (and counted) rather than letting memory
// grow. When the client goes away the stream becomes closed(), writes return false, and the
// on_close callbacks run on the io_context. Letting go of the last reference ends the stream.
class ChunkStream {
 public:
  virtual ~ChunkStream() = default;
  // Queues one chunk. False once the stream is closed; a chunk dropped because the queue is full
  // still returns true (see dropped()).
  virtual bool write(std::string chunk) = 0;
  // Sends what is queued, then the last chunk, and closes the connection.
  virtual void end() = 0;
  // Sends what is queued and closes the connection without the last chunk: the client sees the
  // stream cut (a test server uses it to imitate a connection lost mid-stream).
  virtual void abort() = 0;
  virtual bool closed() const = 0;
  // Runs once when the stream ends for any reason (client gone, end(), server stop). If the
  // stream is already closed, runs soon on the io_context.
  virtual void on_close(std::function<void()> fn) = 0;
  virtual uint64_t dropped() const = 0;
};

class HttpServer {
 public:
  struct Options {
    size_t max_body = 1 << 20;
    size_t max_header = 8 << 10;
    // A connection with no request in progress for this long is closed, so that a stuck client
    // cannot hold a socket forever (a stream, once started, has no timeout).
    std::chrono::seconds idle_timeout{120};
    // From the first byte of a request until it is read whole (header and body), and for writing
    // a response; a slower client is disconnected.
    std::chrono::seconds request_timeout{10};
    // Connections served at once; 0: no cap. Over it a new connection is closed at once.
    size_t max_connections = 0;
    // Named in messages ("metrics", "API").
    std::string name = "HTTP";
    // Receives a line to log when the cap is first reached, when it is left again, and when
    // accept() fails; the server has no logger of its own.
    std::function<void(const std::string&)> warn;
    // Chunks queued for a slow stream reader before new ones are dropped.
    size_t max_queued_chunks = 4096;
    // The reply to a request whose body is over max_body, after which the connection closes.
    // Without one the connection just closes.
    std::function<HttpResponse()> body_too_large;
  };

  // What a handler answers: a complete response, or (stream = true) the head of the chunked
  // stream it took from open_stream(). A head is sent with chunked transfer encoding, then the
  // chunks; the connection closes after the last one. Chunks written to a stream whose request
  // was answered with a complete response are discarded.
  struct Answer {
    Answer(HttpResponse r, bool is_stream = false)  // NOLINT(google-explicit-constructor)
        : response(std::move(r)), stream(is_stream) {}
    HttpResponse response;
    bool stream = false;
  };
  using OpenStream = std::function<std::shared_ptr<ChunkStream>()>;
  // Called on the io_context for every request, one at a time per connection.
  using Handler = std::function<Answer(const HttpRequest& request, const OpenStream& open_stream)>;

  HttpServer(boost::asio::io_context& io, Options options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves the connections `acceptor` (open, bound and listening) accepts, until stop().
  void serve(boost::asio::local::stream_protocol::acceptor acceptor);
  void serve(boost::asio::ip::tcp::acceptor acceptor);
  // Stops accepting and ends every connection and stream now.
  void stop();
  size_t connections() const;

  struct Stats {
    size_t open = 0;             // connections now
    size_t max_connections = 0;  // the cap (0: none)
    uint64_t accepted = 0;
    uint64_t rejected = 0;       // closed at once: over the cap, or no descriptor left
    uint64_t idle_closed = 0;    // no request within idle_timeout
    uint64_t timed_out = 0;      // a request or response slower than request_timeout
    uint64_t accept_errors = 0;  // accept() failed (EMFILE, ENFILE, ...)
  };
  // Called on the io_context.
  Stats stats() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace netagent::api
