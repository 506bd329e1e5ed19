#include "netagent/kubeapi/reflector.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <random>

namespace netagent::kubeapi {

namespace asio = boost::asio;

const char* to_string(ReflectorState s) {
  switch (s) {
    case ReflectorState::Syncing:
      return "syncing";
    case ReflectorState::Synced:
      return "synced";
    case ReflectorState::Failing:
      return "failing";
  }
  return "?";
}

std::chrono::milliseconds backoff_delay(unsigned failures, std::chrono::milliseconds min,
                                        std::chrono::milliseconds max, uint64_t random) {
  using ms = std::chrono::milliseconds;
  if (min.count() < 0) min = ms(0);
  if (max < min) max = min;
  int64_t cap = min.count();
  for (unsigned i = 1; i < failures && cap < max.count(); ++i) {
    cap = cap == 0 ? 1 : cap * 2;
  }
  cap = std::min(cap, max.count());
  if (cap <= min.count()) return min;
  return ms(min.count() +
            static_cast<int64_t>(random % static_cast<uint64_t>(cap - min.count() + 1)));
}

namespace {

// A watch stream that ended because the server closed it after its last complete event (its
// timeoutSeconds, a restart): not a failure.
bool clean_end(const ApiError& e) {
  return e.http_status == 0 && e.message == "stream ended by the server";
}

std::string rv_of(const json& object) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string()) return "";
  return rv->get<std::string>();
}

std::string key_of(const json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  return meta->value("namespace", "") + "/" + meta->value("name", "");
}

bool initial_events_end(const json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return false;
  auto ann = meta->find("annotations");
  if (ann == meta->end() || !ann->is_object()) return false;
  auto v = ann->find("k8s.io/initial-events-end");
  return v != ann->end() && v->is_string() && *v == "true";
}

// The answers to a WatchList watch that mean "this server has no WatchList" (it rejects or does
// not know sendInitialEvents), as opposed to a failure worth retrying.
bool watch_list_rejected(unsigned status) {
  return status == 400 || status == 404 || status == 405 || status == 415 || status == 422 ||
         status == 501;
}

enum class Sync { Done, Unsupported, Failed, Stopped };

// What the reflector's coroutine works on, shared with it so that the Reflector may be destroyed
// while the coroutine still has a turn to take (it sees `stopped` and ends).
struct ReflectorShared {
  ReflectorShared(std::shared_ptr<Client> c, Resource r, ReflectorOptions o, ReflectorHandler h,
                  ReflectorStats* s)
      : client(std::move(c)),
        resource(std::move(r)),
        options(std::move(o)),
        handler(std::move(h)),
        stats(s),
        timer(client->io()),
        rng(std::random_device{}()) {}

  std::shared_ptr<Client> client;
  Resource resource;
  ReflectorOptions options;
  ReflectorHandler handler;
  ReflectorStats* stats;  // the owner's; null after stop()
  ReflectorStats scratch;
  bool stopped = false;
  bool announced = false;
  std::unique_ptr<WatchStream> stream;
  asio::steady_timer timer;
  std::mt19937_64 rng;
  unsigned failures_in_row = 0;
  std::string rv;

  ReflectorStats& st() { return stats ? *stats : scratch; }

  void set_state(ReflectorState s, const std::string& detail) {
    if (stopped) return;
    ReflectorState prev = st().state;
    st().state = s;
    if (s == ReflectorState::Failing) st().last_error = detail;
    if ((prev != s || s == ReflectorState::Failing || !announced) && handler.on_state) {
      announced = true;
      handler.on_state(s, detail);
    }
    announced = true;
  }

  void deliver(std::vector<json> items, std::string version, bool by_watch_list, bool gone) {
    rv = version;
    auto& s = st();
    s.resource_version = version;
    ++s.lists;
    if (gone) ++s.relists_gone;
    if (by_watch_list) ++s.watch_lists;
    s.last_sync = std::chrono::system_clock::now();
    if (handler.on_replace) handler.on_replace(std::move(items), version);
  }

  asio::awaitable<void> fail(const std::string& why) {
    ++st().failures;
    ++failures_in_row;
    set_state(ReflectorState::Failing, why);
    if (stopped) co_return;  // stop() from on_state: no wait
    auto delay = backoff_delay(failures_in_row, options.retry_min, options.retry_max, rng());
    timer.expires_after(delay);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<Sync> watch_list_sync(bool gone, std::string& err) {
    WatchOptions wo;
    wo.label_selector = options.label_selector;
    wo.field_selector = options.field_selector;
    wo.allow_bookmarks = true;
    wo.send_initial_events = true;
    wo.timeout = options.watch_timeout;
    auto w = co_await client->watch(resource, options.ns, wo);
    if (stopped) co_return Sync::Stopped;
    if (!ok(w)) {
      err = error(w).error.str();
      co_return watch_list_rejected(error(w).http_status) ? Sync::Unsupported : Sync::Failed;
    }
    ++st().watches;
    stream = std::move(value(w));
    std::vector<json> items;
    std::map<std::string, size_t> index;
    for (;;) {
      auto ev = co_await stream->next();
      if (stopped) co_return Sync::Stopped;
      if (!ok(ev)) {
        stream.reset();
        err = error(ev).error.str();
        if (clean_end(error(ev))) {
          err = "the server closed the WatchList watch before its initial-events-end bookmark";
          co_return Sync::Unsupported;
        }
        co_return Sync::Failed;
      }
      WatchEvent& e = value(ev);
      switch (e.type) {
        case WatchEvent::Type::Added: {
          e.object["apiVersion"] = resource.api_version();
          e.object["kind"] = resource.kind;
          std::string key = key_of(e.object);
          if (auto it = index.find(key); it != index.end()) {
            items[it->second] = std::move(e.object);
          } else {
            index.emplace(std::move(key), items.size());
            items.push_back(std::move(e.object));
          }
          break;
        }
        case WatchEvent::Type::Bookmark:
          if (!initial_events_end(e.object)) {
            stream.reset();
            err = "a bookmark without k8s.io/initial-events-end during the initial events";
            co_return Sync::Unsupported;
          }
          ++st().bookmarks;
          deliver(std::move(items), rv_of(e.object), true, gone);
          co_return stopped ? Sync::Stopped : Sync::Done;
        case WatchEvent::Type::Modified:
        case WatchEvent::Type::Deleted:
          stream.reset();
          err = "ordinary events before the initial-events-end bookmark";
          co_return Sync::Unsupported;
        case WatchEvent::Type::Error:
          stream.reset();
          err = "ERROR event during the initial events: " +
                e.object.value("message", e.object.dump());
          co_return Sync::Failed;
      }
    }
  }

  asio::awaitable<Sync> list_sync(bool gone, std::string& err) {
    for (int attempt = 0;; ++attempt) {
      ListOptions lo;
      lo.label_selector = options.label_selector;
      lo.field_selector = options.field_selector;
      lo.limit = options.page_size;
      auto r = co_await client->list_all(resource, options.ns, lo);
      if (stopped) co_return Sync::Stopped;
      if (ok(r)) {
        deliver(std::move(value(r).items), value(r).resource_version, false, gone);
        co_return stopped ? Sync::Stopped : Sync::Done;
      }
      // 410 on a continue token: its snapshot was compacted mid-list; list again from the start.
      if (error(r).gone() && attempt < 3) continue;
      err = error(r).error.str();
      co_return Sync::Failed;
    }
  }
};

asio::awaitable<void> run(std::shared_ptr<ReflectorShared> s) {
  bool need_list = true;
  bool gone = false;
  std::string reason = "start";
  while (!s->stopped) {
    if (need_list) {
      s->set_state(ReflectorState::Syncing, reason);
      std::string err;
      Sync r = Sync::Unsupported;
      if (s->options.use_watch_list && s->st().watch_list_supported) {
        r = co_await s->watch_list_sync(gone, err);
        if (r == Sync::Unsupported) {
          s->st().watch_list_supported = false;
          s->set_state(ReflectorState::Syncing,
                       "no WatchList on the server (" + err + "); listing instead");
        }
      }
      if (r == Sync::Unsupported) r = co_await s->list_sync(gone, err);
      if (r == Sync::Stopped || s->stopped) co_return;
      if (r == Sync::Failed) {
        co_await s->fail(err);
        continue;
      }
      need_list = false;
      gone = false;
      s->failures_in_row = 0;
      s->set_state(ReflectorState::Synced, "synced at resourceVersion " + s->rv);
      if (s->stopped) co_return;
    }
    if (!s->stream) {
      WatchOptions wo;
      wo.label_selector = s->options.label_selector;
      wo.field_selector = s->options.field_selector;
      wo.resource_version = s->rv;
      wo.allow_bookmarks = true;
      wo.timeout = s->options.watch_timeout;
      auto w = co_await s->client->watch(s->resource, s->options.ns, wo);
      if (s->stopped) co_return;
      if (!ok(w)) {
        if (error(w).gone()) {
          need_list = true;
          gone = true;
          reason = error(w).error.str();
          continue;
        }
        co_await s->fail(error(w).error.str());
        continue;
      }
      ++s->st().watches;
      s->stream = std::move(value(w));
      if (s->st().state != ReflectorState::Synced) {
        s->failures_in_row = 0;
        s->set_state(ReflectorState::Synced, "watching from resourceVersion " + s->rv);
        if (s->stopped) co_return;
      }
    }
    const auto started = std::chrono::steady_clock::now();
    uint64_t seen = 0;
    for (;;) {
      auto ev = co_await s->stream->next();
      if (s->stopped) co_return;
      if (!ok(ev)) {
        s->stream.reset();
        // The server's timeout: resume from the last version at once. A stream that closes at
        // once without a single event would spin; that is a failure and backs off.
        if (clean_end(error(ev)) &&
            (seen > 0 || std::chrono::steady_clock::now() - started >= std::chrono::seconds(1))) {
          break;
        }
        co_await s->fail(error(ev).error.str());
        break;
      }
      ++seen;
      WatchEvent& e = value(ev);
      if (e.type == WatchEvent::Type::Error) {
        s->stream.reset();
        need_list = true;
        gone = e.object.value("code", 0) == 410;
        reason = "watch ERROR event: " + e.object.value("reason", std::string()) + ": " +
                 e.object.value("message", std::string());
        break;
      }
      std::string version = rv_of(e.object);
      if (!version.empty()) {
        s->rv = version;
        s->st().resource_version = version;
      }
      if (e.type == WatchEvent::Type::Bookmark) {
        ++s->st().bookmarks;
        continue;
      }
      ++s->st().events;
      s->st().last_event = std::chrono::system_clock::now();
      if (s->handler.on_event) s->handler.on_event(e.type, std::move(e.object));
      if (s->stopped) co_return;
    }
  }
}

}  // namespace

struct Reflector::Impl {
  std::shared_ptr<ReflectorShared> shared;
};

Reflector::Reflector(std::shared_ptr<Client> client, Resource resource, ReflectorOptions options,
                     ReflectorHandler handler)
    : client_(std::move(client)),
      resource_(std::move(resource)),
      options_(std::move(options)),
      handler_(std::move(handler)),
      impl_(std::make_unique<Impl>()) {}

Reflector::~Reflector() {
  stop();
}

void Reflector::start() {
  if (impl_->shared) return;
  impl_->shared =
      std::make_shared<ReflectorShared>(client_, resource_, options_, handler_, &stats_);
  asio::co_spawn(client_->io(), run(impl_->shared), asio::detached);
}

void Reflector::stop() {
  auto& s = impl_->shared;
  if (!s || s->stopped) return;
  s->stopped = true;
  s->stats = nullptr;
  s->timer.cancel();
  if (s->stream) s->stream->close();
}

}  // namespace netagent::kubeapi
