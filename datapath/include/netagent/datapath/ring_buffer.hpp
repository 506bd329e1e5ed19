#pragma once
// Reads a BPF ring buffer on a Boost.Asio io_context: the ring buffer's epoll fd is waited on
// asynchronously and every record is handed to a callback as bytes; no thread of its own.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "netagent/common/result.hpp"

struct ring_buffer;

namespace netagent::datapath {

class RingBufferReader {
 public:
  using RecordFn = std::function<void(std::span<const uint8_t>)>;

  static Result<std::unique_ptr<RingBufferReader>> open(boost::asio::io_context& io, int map_fd,
                                                        RecordFn fn);
  ~RingBufferReader();
  RingBufferReader(const RingBufferReader&) = delete;
  RingBufferReader& operator=(const RingBufferReader&) = delete;

  // Consumes whatever is available now (also usable without the io_context, e.g. in tests).
  int poll_now();
  uint64_t records() const { return records_; }

 private:
  RingBufferReader(boost::asio::io_context& io, RecordFn fn);
  void arm();
  static int on_record(void* ctx, void* data, size_t size);

  ring_buffer* rb_ = nullptr;
  boost::asio::posix::stream_descriptor desc_;
  RecordFn fn_;
  uint64_t records_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace netagent::datapath
