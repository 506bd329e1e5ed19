#include "netagent/etcd/watch.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "json.hpp"
#include "netagent/common/base64.hpp"
#include "netagent/http/connection.hpp"

namespace netagent::etcd {

namespace asio = boost::asio;
using json = nlohmann::json;

Watch::Watch(std::shared_ptr<EtcdClient> client, std::string prefix, WatchOptions opts,
             WatchHandler handler)
    : client_(std::move(client)),
      prefix_(std::move(prefix)),
      opts_(opts),
      handler_(std::move(handler)),
      timer_(std::make_unique<asio::steady_timer>(client_->io())) {}

Watch::~Watch() = default;

void Watch::start() {
  if (opts_.start_revision > 0) {
    next_revision_ = opts_.start_revision;
  } else {
    need_resync_ = true;
    resync_reason_ = "initial";
  }
  asio::co_spawn(
      client_->io(),
      [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->run(); },
      asio::detached);
}

void Watch::cancel() {
  cancelled_ = true;
  timer_->cancel();
  if (conn_) conn_->close();
}

void Watch::set_state(WatchState s, const std::string& detail) {
  bool now_connected = s == WatchState::Connected;
  if (now_connected == connected_ && now_connected) return;
  connected_ = now_connected;
  if (handler_.on_state && !cancelled_) handler_.on_state(s, detail);
}

asio::awaitable<void> Watch::backoff() {
  delay_ = delay_.count() == 0 ? opts_.retry_min : std::min(delay_ * 2, opts_.retry_max);
  timer_->expires_after(delay_);
  boost::system::error_code ec;
  co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<Status> Watch::resync(std::string reason) {
  auto all = co_await client_->range_all(prefix_, opts_.resync_page_size);
  if (!all) co_return all.error().wrap("resync " + prefix_);
  if (cancelled_) co_return Status{};
  need_resync_ = false;
  cluster_id_ = all->header.cluster_id;
  next_revision_ = all->header.revision + 1;
  ++counters_.resyncs;
  ++counters_.updates;
  WatchUpdate u;
  u.kind = WatchUpdate::Kind::Resync;
  u.kvs = std::move(all->kvs);
  u.revision = all->header.revision;
  u.reason = std::move(reason);
  if (handler_.on_update) handler_.on_update(std::move(u));
  co_return Status{};
}

asio::awaitable<void> Watch::run() {
  auto self = shared_from_this();
  while (!cancelled_ && !client_->is_shut_down()) {
    if (need_resync_) {
      auto st = co_await resync(resync_reason_);
      if (cancelled_) co_return;
      if (!st) {
        set_state(WatchState::Disconnected, st.error().message);
        co_await backoff();
        continue;
      }
    }
    auto conn = co_await client_->connect_any();
    if (cancelled_) co_return;
    if (!conn) {
      set_state(WatchState::Disconnected, conn.error().message);
      co_await backoff();
      continue;
    }
    conn_ = std::move(*conn);
    const std::string endpoint = conn_->endpoint().text;
    json create = {{"key", base64_encode(prefix_)},
                   {"range_end", base64_encode(prefix_range_end(prefix_))},
                   {"start_revision", std::to_string(next_revision_)},
                   {"progress_notify", true}};
    json req = {{"create_request", std::move(create)}};
    http::Request request{.method = "POST",
                          .target = "/v3/watch",
                          .headers = {{"Content-Type", "application/json"}},
                          .body = req.dump()};
    auto status =
        co_await conn_->open_stream(std::move(request), client_->config().request_timeout);
    if (cancelled_) co_return;
    std::string failure;
    if (!status) {
      failure = endpoint + ": " + status.error().message;
    } else if (status->status != 200) {
      auto body = co_await conn_->read_body(client_->config().request_timeout);
      if (cancelled_) co_return;
      failure = endpoint + ": watch: " +
                detail::gateway_error(status->status, body ? *body : std::string()).message;
    }
    while (failure.empty()) {
      auto msg = co_await conn_->read_line();
      if (cancelled_) co_return;
      if (!msg) {
        failure = endpoint + ": " + msg.error().message;
        break;
      }
      auto j = detail::parse_json(*msg, "/v3/watch");
      if (!j) {
        failure = endpoint + ": " + j.error().message;
        break;
      }
      if (auto e = j->find("error"); e != j->end()) {
        failure = endpoint + ": watch: " + detail::stream_error_text(*e);
        break;
      }
      const json& r = j->contains("result") ? (*j)["result"] : *j;
      const ResponseHeader h = detail::parse_header(r);
      if (r.value("created", false)) {
        // A member of another etcd cluster, or one with fewer revisions than already delivered,
        // has a different history: resuming from our revision would miss or invent changes.
        bool other_cluster = cluster_id_ != 0 && h.cluster_id != 0 && h.cluster_id != cluster_id_;
        bool lost_history = h.revision != 0 && h.revision < next_revision_ - 1;
        if (other_cluster || lost_history) {
          need_resync_ = true;
          resync_reason_ = other_cluster
                               ? "server belongs to another etcd cluster"
                               : "server lost data (at revision " + std::to_string(h.revision) +
                                     ", already saw " + std::to_string(next_revision_ - 1) + ")";
          break;
        }
        if (h.cluster_id != 0) cluster_id_ = h.cluster_id;
        if (ever_connected_ && !connected_) ++counters_.reconnects;
        ever_connected_ = true;
        delay_ = std::chrono::milliseconds(0);
        set_state(WatchState::Connected, endpoint);
        continue;
      }
      if (r.value("canceled", false)) {
        int64_t compacted = detail::get_i64(r, "compact_revision");
        if (compacted > 0) {
          ++counters_.compactions;
          need_resync_ = true;
          resync_reason_ = "compacted at " + std::to_string(compacted);
          break;
        }
        failure = endpoint + ": watch cancelled by the server: " +
                  r.value("cancel_reason", std::string("no reason given"));
        break;
      }
      auto events = r.find("events");
      if (events == r.end() || !events->is_array() || events->empty()) {
        // Progress notification: etcd only sends it to watchers that are caught up.
        if (h.revision >= next_revision_) next_revision_ = h.revision + 1;
        continue;
      }
      WatchUpdate u;
      u.kind = WatchUpdate::Kind::Events;
      u.events.reserve(events->size());
      int64_t last = next_revision_ - 1;
      for (const auto& e : *events) {
        auto kv = detail::parse_kv(e.value("kv", json::object()));
        if (!kv) {
          failure = endpoint + ": watch event: " + kv.error().message;
          break;
        }
        WatchEvent ev;
        ev.type = e.value("type", std::string("PUT")) == "DELETE" ? WatchEvent::Type::Delete
                                                                  : WatchEvent::Type::Put;
        last = std::max(last, kv->mod_revision);
        ev.kv = std::move(*kv);
        u.events.push_back(std::move(ev));
      }
      if (!failure.empty()) break;
      // A catching-up watcher's header may be ahead of the events in this message; only the
      // events' own revisions say how far we are.
      next_revision_ = last + 1;
      u.revision = last;
      counters_.events += u.events.size();
      ++counters_.updates;
      if (handler_.on_update) handler_.on_update(std::move(u));
      if (cancelled_) co_return;
    }
    if (conn_) conn_->close();
    conn_.reset();
    if (!failure.empty()) {
      if (opts_.resync_on_reconnect) {
        need_resync_ = true;
        resync_reason_ = "reconnect";
      }
      set_state(WatchState::Disconnected, failure);
      co_await backoff();
    }
  }
}

}  // namespace netagent::etcd
