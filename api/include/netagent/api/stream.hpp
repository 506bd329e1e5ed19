#pragma once
// One open streaming response (newline-delimited JSON, sent as HTTP/1.1 chunks): what a
// streaming handler holds to write events to a client such as `netctl monitor`.
//
// A Stream may be written from any thread. Writes are queued and sent in order on the agent's
// io_context; when the client reads slower than events arrive, the queue is capped and further
// lines are dropped (and counted) rather than letting memory grow. When the client goes away the
// stream becomes closed(), further writes return false, and the on_close callbacks run (on the
// io_context) so the producer can let go of it.
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace netagent::api {

class Stream {
 public:
  virtual ~Stream() = default;

  // Queues one line (a JSON value, serialised without newlines). Returns false once the stream
  // is closed; a line dropped because the queue is full still returns true (see dropped()).
  virtual bool write(const nlohmann::json& line) = 0;
  // Ends the response (final chunk); the connection then closes.
  virtual void close() = 0;
  virtual bool closed() const = 0;
  // Runs once when the stream ends for any reason (client gone, close(), server stop). If the
  // stream is already closed, runs soon on the io_context.
  virtual void on_close(std::function<void()> fn) = 0;
  virtual uint64_t dropped() const = 0;
};

}  // namespace netagent::api
