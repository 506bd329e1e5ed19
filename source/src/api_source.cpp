// The API source's network half: discovery of the CRD versions served, one reflector per kind,
// sync gating and snapshot building (api_objects.cpp holds the cache).
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <set>

#include "netagent/source/api_source.hpp"

namespace netagent::source {

namespace asio = boost::asio;
using json = nlohmann::json;
using kubeapi::ReflectorState;
using kubeapi::Resource;
using kubeapi::WatchEvent;
using SysClock = std::chrono::system_clock;

// ---- ApiSource ----

struct ApiSource::Watched {
  ApiKind kind;
  std::optional<Resource> resource;  // the version watched, once discovered
  std::shared_ptr<kubeapi::Reflector> reflector;
  std::string state = "discovering";  // k8s::SourcePart::state
  std::string detail;
  bool synced_once = false;
  bool failing = false;
  SysClock::time_point failing_since{};
  SysClock::time_point last_sync{};
  std::unique_ptr<asio::steady_timer> timer;
  std::chrono::milliseconds retry{0};

  std::string name() const {
    return resource ? resource->str() + "/" + resource->version : kind.versions.front().str();
  }
  std::string origin() const { return "kubernetes API " + name(); }
};

ApiSource::ApiSource(asio::io_context& io, std::shared_ptr<kubeapi::Client> client,
                     ApiSourceOptions options)
    : io_(io),
      client_(std::move(client)),
      options_(std::move(options)),
      cache_(&options_.registry),
      build_timer_(io) {
  for (auto& k : api_kinds(options_, &unknown_kinds_)) {
    auto w = std::make_unique<Watched>();
    w->kind = std::move(k);
    w->timer = std::make_unique<asio::steady_timer>(io_);
    watched_.push_back(std::move(w));
  }
}

ApiSource::~ApiSource() {
  stop();
}

std::string ApiSource::describe() const {
  return "kubernetes API " + client_->config().server + " (" + client_->config().origin + ")";
}

// `on_error` is not used: this source never rejects a whole load (a bad object is reported in
// stats() and left out, the rest delivered).
void ApiSource::start(SnapshotFn on_snapshot, ErrorFn /*on_error*/) {
  on_snapshot_ = std::move(on_snapshot);
  for (const auto& k : unknown_kinds_) {
    spdlog::warn(
        "kubernetes API source: kind {} is not watched (no API resource known for it); "
        "it is read from --manifests only",
        k);
  }
  update_stats();
  for (size_t i = 0; i < watched_.size(); ++i) {
    if (watched_[i]->kind.custom) {
      discover(i);
    } else {
      watched_[i]->resource = watched_[i]->kind.versions.front();
      run_reflector(i, *watched_[i]->resource);
    }
  }
}

void ApiSource::stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  build_timer_.cancel();
  for (auto& w : watched_) {
    if (w->reflector) w->reflector->stop();
    w->timer->cancel();
  }
}

// A CRD kind: the first of its versions the server serves. A 404 for the collection means the
// version is not served; when none is, the kind is empty (not installed) and looked for again.
void ApiSource::discover(size_t index) {
  asio::co_spawn(
      io_,
      [this, index, alive = alive_]() -> asio::awaitable<void> {
        Watched& w = *watched_[index];
        std::string last_error;
        bool failed = false;
        for (const auto& r : w.kind.versions) {
          kubeapi::ListOptions probe;
          probe.limit = 1;
          auto res = co_await client_->list(r, w.kind.ns, probe);
          if (!*alive) co_return;
          if (kubeapi::ok(res)) {
            w.resource = r;
            // Started from the io_context, not from inside this coroutine (see
            // LeaderElector::notify: a coroutine launched inside another one's execution).
            asio::post(io_, [this, index, r, alive] {
              if (*alive) run_reflector(index, r);
            });
            co_return;
          }
          const auto& err = kubeapi::error(res);
          if (!err.not_found()) {
            failed = true;
            last_error = err.error.str();
            break;
          }
        }
        if (failed) {
          // Unreachable or refused: not known to be absent. Retried with back-off; the kind is
          // not synced meanwhile (no snapshot before it is).
          w.retry = std::min(std::max(w.retry * 2, std::chrono::milliseconds(500)),
                             std::chrono::milliseconds(30000));
          on_state(index, ReflectorState::Failing, last_error);
        } else {
          w.retry =
              std::chrono::duration_cast<std::chrono::milliseconds>(options_.rediscover_interval);
          bool first = !w.synced_once;
          w.state = "not served";
          w.detail = "the server serves none of " +
                     [&] {
                       std::string s;
                       for (const auto& r : w.kind.versions)
                         s += (s.empty() ? "" : ", ") + r.api_version();
                       return s;
                     }() +
                     " for " + w.kind.kind + " (CRD not installed?); looked for again every " +
                     std::to_string(options_.rediscover_interval.count()) + " s";
          if (first) spdlog::warn("kubernetes API source: {}", w.detail);
          w.synced_once = true;
          w.failing = false;
          w.last_sync = SysClock::now();
          if (cache_.replace(w.kind.kind, w.origin(), {})) dirty_ = true;
          changed();
        }
        w.timer->expires_after(w.retry);
        w.timer->async_wait([this, index, alive](const boost::system::error_code& ec) {
          if (ec || !*alive) return;
          discover(index);
        });
      },
      asio::detached);
}

void ApiSource::run_reflector(size_t index, const Resource& resource) {
  Watched& w = *watched_[index];
  kubeapi::ReflectorOptions ro = options_.reflector;
  ro.ns = w.kind.ns;
  kubeapi::ReflectorHandler h;
  h.on_replace = [this, index](std::vector<json> items, const std::string&) {
    Watched& w = *watched_[index];
    if (cache_.replace(w.kind.kind, w.origin(), items)) dirty_ = true;
    w.synced_once = true;
    w.last_sync = SysClock::now();
    changed();
  };
  h.on_event = [this, index](WatchEvent::Type type, json object) {
    Watched& w = *watched_[index];
    if (cache_.apply(w.kind.kind, w.origin(), type, object)) {
      dirty_ = true;
      changed();
    }
  };
  h.on_state = [this, index](ReflectorState s, const std::string& detail) {
    on_state(index, s, detail);
  };
  w.state = "syncing";
  w.reflector = std::make_shared<kubeapi::Reflector>(client_, resource, ro, std::move(h));
  w.reflector->start();
  update_stats();
}

void ApiSource::on_state(size_t index, ReflectorState state, const std::string& detail) {
  Watched& w = *watched_[index];
  w.state = kubeapi::to_string(state);
  w.detail = detail;
  if (state == ReflectorState::Failing) {
    if (!w.failing) {
      w.failing = true;
      w.failing_since = SysClock::now();
      spdlog::warn("kubernetes API source: {} failing: {}; keeping the last state", w.name(),
                   detail);
    }
  } else if (state == ReflectorState::Synced) {
    if (w.failing) spdlog::info("kubernetes API source: {} synced again", w.name());
    w.failing = false;
  }
  update_stats();
}

// Snapshots are built once per burst of changes: a build is posted (so every event already read
// is in it) and, after a build that took T, the next one waits until T has passed, so that under
// a storm of events at most half the thread goes to building.
void ApiSource::changed() {
  if (stopped_ || !dirty_) return;
  for (const auto& w : watched_) {
    if (!w->synced_once) {
      update_stats();
      return;  // never a snapshot of a cache that is not complete
    }
  }
  if (build_posted_) return;
  build_posted_ = true;
  auto since = std::chrono::steady_clock::now() - last_build_;
  if (since >= last_build_cost_) {
    asio::post(io_, [this, alive = alive_] {
      if (*alive) build();
    });
  } else {
    build_timer_.expires_after(last_build_cost_ - since);
    build_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
      if (!ec && *alive) build();
    });
  }
}

void ApiSource::build() {
  build_posted_ = false;
  if (stopped_ || !dirty_) return;
  dirty_ = false;
  const auto t0 = std::chrono::steady_clock::now();
  auto errors = cache_.errors();
  auto snap = cache_.build(errors);
  last_build_ = std::chrono::steady_clock::now();
  last_build_cost_ = last_build_ - t0;
  {
    std::lock_guard lock(mu_);
    // Each object that does not decode is logged once, when it is first seen bad.
    std::set<std::string> before;
    for (const auto& e : stats_.last_errors)
      before.insert(e.str());
    for (const auto& e : errors) {
      if (!before.count(e.str())) {
        spdlog::error(
            "kubernetes API source: {} (not applied; the last good version, if any, stays)",
            e.str());
      }
    }
    stats_.last_errors = std::move(errors);
    stats_.loads_ok++;
    stats_.last_ok = SysClock::now();
    stats_.last_attempt = stats_.last_ok;
    current_ = snap;
  }
  update_stats();
  if (on_snapshot_) on_snapshot_(std::move(snap));
}

void ApiSource::update_stats() {
  std::lock_guard lock(mu_);
  stats_.parts.clear();
  stats_.stale = false;
  stats_.stale_reason.clear();
  stats_.stale_since = {};
  std::vector<std::string> waiting;
  for (const auto& w : watched_) {
    k8s::SourcePart p;
    p.name = w->name();
    p.state = w->state;
    p.objects = cache_.objects(w->kind.kind);
    p.detail = w->detail;
    p.last_sync = w->last_sync;
    stats_.parts.push_back(std::move(p));
    if (!w->synced_once) waiting.push_back(w->name());
    if (w->failing && w->synced_once) {
      if (!stats_.stale || w->failing_since < stats_.stale_since)
        stats_.stale_since = w->failing_since;
      stats_.stale = true;
      if (!stats_.stale_reason.empty()) stats_.stale_reason += "; ";
      stats_.stale_reason += w->name() + ": " + w->detail;
    }
  }
  stats_.pending.clear();
  if (!waiting.empty()) {
    stats_.pending =
        "waiting for the first complete list of " + std::to_string(waiting.size()) + " kind(s): ";
    for (size_t i = 0; i < waiting.size(); ++i)
      stats_.pending += (i ? ", " : "") + waiting[i];
  }
  stats_.warnings.clear();
  for (const auto& k : unknown_kinds_)
    stats_.warnings.push_back(k +
                              ": no API resource known for this kind; read from --manifests only");
}

k8s::SourceStats ApiSource::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::shared_ptr<const k8s::Snapshot> ApiSource::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace netagent::source
