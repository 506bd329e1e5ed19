#include "netagent/datapath/ring_buffer.hpp"

#include <bpf/libbpf.h>

namespace netagent::datapath {

RingBufferReader::RingBufferReader(boost::asio::io_context& io, RecordFn fn)
    : desc_(io), fn_(std::move(fn)) {}

Result<std::unique_ptr<RingBufferReader>> RingBufferReader::open(boost::asio::io_context& io,
                                                                 int map_fd, RecordFn fn) {
  std::unique_ptr<RingBufferReader> r(new RingBufferReader(io, std::move(fn)));
  r->rb_ = ring_buffer__new(map_fd, &RingBufferReader::on_record, r.get(), nullptr);
  if (!r->rb_) return sys_error("open ring buffer");
  r->desc_.assign(ring_buffer__epoll_fd(r->rb_));
  r->arm();
  return r;
}

RingBufferReader::~RingBufferReader() {
  *alive_ = false;
  boost::system::error_code ec;
  desc_.cancel(ec);
  desc_.release();  // the epoll fd belongs to libbpf's ring_buffer
  if (rb_) ring_buffer__free(rb_);
}

int RingBufferReader::on_record(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingBufferReader*>(ctx);
  self->records_++;
  self->fn_({static_cast<const uint8_t*>(data), size});
  return 0;
}

int RingBufferReader::poll_now() {
  return ring_buffer__consume(rb_);
}

void RingBufferReader::arm() {
  desc_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this, alive = alive_](const boost::system::error_code& ec) {
                     if (!*alive || ec) return;
                     ring_buffer__consume(rb_);
                     arm();
                   });
}

}  // namespace netagent::datapath
