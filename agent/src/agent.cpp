#include "netagent/agent/agent.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <csignal>
#include <filesystem>

#include "netagent/agent/exit_code.hpp"
#include "netagent/agent/startup.hpp"
#include "netagent/datapath/pins.hpp"
#include "netagent/metrics/exposition.hpp"
#include "netagent/metrics/process.hpp"

namespace netagent::agent {

namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;

const char* version() {
  return NETAGENT_VERSION;
}

namespace {

constexpr auto kRetryFirst = std::chrono::seconds(1);
constexpr auto kRetryMax = std::chrono::seconds(60);

json timestamp(SysClock::time_point t) {
  if (t == SysClock::time_point{}) return nullptr;
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(SysClock::to_time_t(secs)));
}

json seconds_ago(SysClock::time_point t) {
  if (t == SysClock::time_point{}) return nullptr;
  return std::chrono::duration<double>(SysClock::now() - t).count();
}

double unix_seconds(SysClock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

api::ListenerLimits listener_limits(const Config& c, uint32_t max_connections) {
  api::ListenerLimits l;
  l.max_connections = max_connections;
  l.idle_timeout = std::chrono::seconds(c.http_idle_timeout);
  l.request_timeout = std::chrono::seconds(c.http_request_timeout);
  l.warn = [](const std::string& line) { spdlog::warn("{}", line); };
  return l;
}

json listener_json(const api::HttpServer::Stats& s) {
  return {{"connections", s.open},           {"max_connections", s.max_connections},
          {"accepted", s.accepted},          {"rejected", s.rejected},
          {"idle_closed", s.idle_closed},    {"timed_out", s.timed_out},
          {"accept_errors", s.accept_errors}};
}

}  // namespace

// One reconciler and what the runtime records about it.
struct Agent::Part {
  std::unique_ptr<store::Reconciler> reconciler;
  std::string name;
  std::vector<store::Topic> inputs;
  std::vector<store::Topic> outputs;
  bool dirty = false;  // to apply in the next pass
  uint64_t applies = 0;
  uint64_t errors = 0;
  bool applied_once = false;
  bool healthy = true;
  std::string last_error;
  SysClock::time_point last_error_at{};
  SysClock::time_point last_success_at{};
  double last_duration = 0;
  uint64_t applied_generation = 0;
  std::chrono::seconds backoff = kRetryFirst;
  std::unique_ptr<asio::steady_timer> retry;

  metrics::Counter* m_applies = nullptr;
  metrics::Counter* m_errors = nullptr;
  metrics::Histogram* m_duration = nullptr;
  metrics::Gauge* m_healthy = nullptr;
};

Agent::Agent(Config config)
    : config_(std::move(config)),
      api_server_(io_, router_, listener_limits(config_, config_.api_max_connections)),
      metrics_server_(io_, metrics_, listener_limits(config_, config_.metrics_max_connections)),
      signals_(io_),
      verify_timer_(io_),
      heap_timer_(io_),
      started_at_(SysClock::now()),
      started_steady_(Clock::now()) {
  register_builtin_metrics();
  register_builtin_api();
  store_.set_observer([this](const store::Topic& t) { on_publish(t); });
}

Agent::~Agent() {
  // Parts first: they may hold streams and timers bound to io_.
  parts_.clear();
  source_.reset();
}

void Agent::add(std::unique_ptr<store::Reconciler> reconciler) {
  auto part = std::make_unique<Part>();
  part->name = reconciler->name();
  part->inputs = reconciler->inputs();
  part->outputs = reconciler->outputs();
  for (const auto& p : parts_) {
    if (p->name == part->name) {
      throw std::logic_error("two reconcilers named '" + part->name + "'");
    }
  }
  // A pass applies parts in order: whoever publishes what this part reads must come first.
  for (const auto& in : part->inputs) {
    bool published = std::any_of(parts_.begin(), parts_.end(), [&](const auto& p) {
      return std::find(p->outputs.begin(), p->outputs.end(), in) != p->outputs.end();
    });
    if (!published) {
      throw std::logic_error("reconciler '" + part->name + "' reads " + std::string(in.name) +
                             ", which no reconciler added before it publishes");
    }
  }
  part->reconciler = std::move(reconciler);
  part->retry = std::make_unique<asio::steady_timer>(io_);
  part->m_applies = &metrics_
                         .counter("netagent_reconciler_applies_total",
                                  "Snapshots applied by each reconciler (including failed "
                                  "attempts and retries).",
                                  {"reconciler"})
                         .with({part->name});
  part->m_errors = &metrics_
                        .counter("netagent_reconciler_apply_errors_total",
                                 "Failed apply attempts per reconciler.", {"reconciler"})
                        .with({part->name});
  part->m_duration =
      &metrics_
           .histogram("netagent_reconciler_apply_duration_seconds",
                      "Time each reconciler took to apply a snapshot.", {"reconciler"})
           .with({part->name});
  part->m_healthy =
      &metrics_
           .gauge("netagent_reconciler_healthy",
                  "1 when the reconciler's last apply succeeded, else 0.", {"reconciler"})
           .with({part->name});
  part->m_healthy->set(1);
  part->reconciler->register_kinds(kinds_);
  part->reconciler->register_api(router_);
  part->reconciler->register_metrics(metrics_);
  parts_.push_back(std::move(part));
}

void Agent::set_source(std::unique_ptr<k8s::Source> source) {
  source_ = std::move(source);
}

void Agent::register_builtin_metrics() {
  metrics::register_process_metrics(
      metrics_,
      {version(), fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__)});
  heap_trims_ = &metrics_
                     .counter("netagent_heap_trims_total",
                              "Times the agent gave freed heap back to the kernel (malloc_trim) "
                              "after a large shrink.",
                              {})
                     .with({});
  heap_released_ = &metrics_
                        .counter("netagent_heap_released_bytes_total",
                                 "Resident memory given back to the kernel by those trims.", {})
                        .with({});
  metrics_.add_collector("agent", [this](metrics::Collection& c) {
    c.gauge("netagent_snapshot_generation",
            "Desired-state snapshots received from the source since start.", {},
            static_cast<double>(generation()));
    if (const auto& snap = store_.snapshot()) {
      c.gauge("netagent_snapshot_last_received_timestamp_seconds",
              "When the latest snapshot arrived (Unix time).", {}, unix_seconds(snapshot_at_));
      const auto& s = *snap;
      for (auto [kind, n] : {std::pair<const char*, size_t>{"Service", s.services.size()},
                             {"EndpointSlice", s.endpoint_slices.size()},
                             {"Pod", s.pods.size()},
                             {"Namespace", s.namespaces.size()},
                             {"Node", s.nodes.size()},
                             {"ConfigMap", s.config_maps.size()},
                             {"Secret", s.secrets.size()},
                             {"other", s.objects.size()}}) {
        c.gauge("netagent_snapshot_objects", "Objects in the latest snapshot, by kind.",
                {{"kind", kind}}, static_cast<double>(n));
      }
    }
    if (source_) {
      auto st = source_->stats();
      c.counter("netagent_source_loads_total", "Loads of the desired-state source, by result.",
                {{"result", "ok"}}, static_cast<double>(st.loads_ok));
      c.counter("netagent_source_loads_total", "Loads of the desired-state source, by result.",
                {{"result", "rejected"}}, static_cast<double>(st.loads_failed));
      c.gauge("netagent_source_errors", "Errors in the latest rejected load (0 when healthy).", {},
              static_cast<double>(st.last_errors.size()));
      c.gauge("netagent_source_warnings",
              "Entries of the input the latest load did not read and reports (a FIFO, socket or "
              "device in the manifest tree, a symlink loop).",
              {}, static_cast<double>(st.warnings.size()));
      c.gauge("netagent_source_pending",
              "1 while a change is seen and not loaded yet (settling, or files being written).", {},
              st.pending.empty() ? 0.0 : 1.0);
      c.gauge("netagent_source_stale",
              "1 while the source cannot see its input (the API server unreachable): the last "
              "state seen stays applied.",
              {}, st.stale ? 1.0 : 0.0);
      if (st.stale) {
        c.gauge("netagent_source_stale_since_timestamp_seconds",
                "Since when the source is stale (Unix time; absent when it is not).", {},
                unix_seconds(st.stale_since));
      }
      for (const auto& part : st.parts) {
        c.gauge("netagent_source_part_objects",
                "Objects of each part of the source (a kind the API source watches).",
                {{"part", part.name}}, static_cast<double>(part.objects));
        c.gauge("netagent_source_part_synced",
                "1 when the part of the source is synced (or known not to be served), 0 while "
                "it syncs or fails.",
                {{"part", part.name}},
                part.state == "synced" || part.state == "not served" ? 1.0 : 0.0);
      }
      if (st.last_ok != SysClock::time_point{}) {
        c.gauge("netagent_source_last_ok_timestamp_seconds",
                "When the source last delivered a snapshot (Unix time).", {},
                unix_seconds(st.last_ok));
      }
    }
  });
  m_drift_repaired_ = &metrics_.counter(
      "netagent_datapath_drift_repaired_total",
      "Map entries the drift check found missing, extra or changed against what the part "
      "programmed, and rewrote, by part and map",
      {"part", "map"});
  m_drift_attachments_ =
      &metrics_.counter("netagent_datapath_drift_attachments_restored_total",
                        "Program attachments (TC filters, cgroup links) the drift check found "
                        "gone or replaced and restored, by part",
                        {"part"});
  m_drift_checks_ = &metrics_.counter(
      "netagent_datapath_drift_checks_total",
      "Drift checks of the datapath by result: clean, repaired (something differed and was "
      "rewritten) or error",
      {"result"});
  for (const char* r : {"clean", "repaired", "error"})
    m_drift_checks_->with({r});
  metrics_.add_collector("datapath_check", [this](metrics::Collection& c) {
    if (last_check_.is_null()) return;
    c.gauge("netagent_datapath_drift_last_check_timestamp_seconds",
            "When the last drift check of the datapath ran (Unix time)", {},
            last_check_.value("unix_time", 0.0));
    c.gauge("netagent_datapath_drift_last_check_repaired",
            "Entries and attachments the last drift check repaired (0: the datapath was as "
            "programmed)",
            {}, last_check_.value("repaired", 0.0));
  });
  metrics_.add_collector("http", [this](metrics::Collection& c) {
    std::vector<std::pair<const char*, api::HttpServer::Stats>> listeners = {
        {"api", api_server_.stats()}};
    if (!config_.metrics_addr.empty()) listeners.push_back({"metrics", metrics_server_.stats()});
    for (const auto& [name, s] : listeners) {
      metrics::Labels l{{"listener", name}};
      c.gauge("netagent_http_connections", "Open connections of each HTTP listener.", l,
              double(s.open));
      c.gauge("netagent_http_connections_max",
              "Connections each HTTP listener serves at once (its cap).", l,
              double(s.max_connections));
      c.counter("netagent_http_connections_rejected_total",
                "Connections closed at once: the listener was at its cap, or out of file "
                "descriptors.",
                l, double(s.rejected));
      c.counter("netagent_http_connections_timed_out_total",
                "Connections closed for a timeout: idle (no request) or request (a request or "
                "reply too slow).",
                {{"listener", name}, {"reason", "idle"}}, double(s.idle_closed));
      c.counter("netagent_http_connections_timed_out_total",
                "Connections closed for a timeout: idle (no request) or request (a request or "
                "reply too slow).",
                {{"listener", name}, {"reason", "request"}}, double(s.timed_out));
      c.counter("netagent_http_accept_errors_total",
                "Failed accept() calls of each HTTP listener (e.g. out of file descriptors).", l,
                double(s.accept_errors));
    }
    if (config_.fd_limit != 0) {
      c.gauge("netagent_process_max_fds", "The file descriptor limit (RLIMIT_NOFILE soft).", {},
              double(config_.fd_limit));
    }
    // Heap in use against resident: the gap is freed memory glibc still holds (see
    // release_freed_heap).
    const struct mallinfo2 mi = mallinfo2();
    c.gauge("netagent_heap_in_use_bytes", "Bytes of heap in use (glibc mallinfo2).", {},
            double(mi.uordblks + mi.hblkhd));
  });
  auto& requests = metrics_.counter("netagent_api_requests_total",
                                    "Agent API requests by method, route and HTTP status.",
                                    {"method", "route", "code"});
  api_server_.on_request(
      [&requests](const std::string& method, const std::string& route, int status, double) {
        requests.with({method, route.empty() ? "unmatched" : route, std::to_string(status)}).inc();
      });
}

void Agent::register_builtin_api() {
  router_.get("/v1/healthz", [this](const api::Request&) {
    return api::Reply(json{
        {"ok", true},
        {"ready", store_.snapshot() != nullptr},
        {"uptime_seconds", std::chrono::duration<double>(Clock::now() - started_steady_).count()}});
  });
  router_.get("/v1/status", [this](const api::Request&) { return api::Reply(status()); });
  router_.get("/v1/metrics", [this](const api::Request&) {
    return api::Reply(metrics::to_json(metrics_.collect()));
  });
  router_.get("/v1/routes", [this](const api::Request&) {
    json out = json::array();
    for (const auto& r : router_.routes()) {
      out.push_back(
          {{"method", api::method_name(r.method)}, {"path", r.pattern}, {"stream", r.streaming}});
    }
    return api::Reply(out);
  });
  router_.post("/v1/resync", [this](const api::Request&) -> api::Reply {
    if (stopping_) return api::unavailable("the agent is stopping");
    return api::Reply(resync("resync"));
  });
}

json Agent::source_status() const {
  if (!source_) {
    return {{"description", "none"},
            {"state", "none"},
            {"message", "no desired-state source is configured in this build"}};
  }
  auto st = source_->stats();
  // Prefer the source's own record; fall back to what it reported through the callback.
  const auto& errors = !st.last_errors.empty() ? st.last_errors : source_errors_;
  std::string state = "ok";
  if (st.loads_ok == 0 && st.loads_failed == 0) {
    state = "starting";
  } else if (st.stale) {
    state = "stale (serving the last state seen)";
  } else if (!errors.empty()) {
    state = st.loads_ok > 0 ? "error (serving the last good snapshot)" : "error (no snapshot)";
  }
  // Every error is kept by the source; status shows the first kShown, in tree order, and the count.
  constexpr size_t kShown = 100;
  json errs = json::array();
  for (size_t i = 0; i < errors.size() && i < kShown; ++i)
    errs.push_back(errors[i].str());
  json parts = json::array();
  for (const auto& p : st.parts) {
    parts.push_back({{"name", p.name},
                     {"state", p.state},
                     {"objects", p.objects},
                     {"detail", p.detail},
                     {"last_sync", timestamp(p.last_sync)}});
  }
  return {{"description", source_->describe()},
          {"state", state},
          {"pending", st.pending.empty() ? json() : json(st.pending)},
          {"stale", st.stale},
          {"stale_reason", st.stale ? json(st.stale_reason) : json()},
          {"stale_since", st.stale ? json(timestamp(st.stale_since)) : json()},
          {"parts", parts},
          {"warnings", st.warnings},
          {"errors_total", errors.size()},
          {"loads_ok", st.loads_ok},
          {"loads_failed", st.loads_failed},
          {"last_ok", timestamp(st.last_ok)},
          {"last_ok_seconds_ago", seconds_ago(st.last_ok)},
          {"last_attempt", timestamp(st.last_attempt)},
          {"last_errors", errs}};
}

json Agent::node_status() const {
  json out{{"name", config_.node_name}, {"found", false}};
  const auto& snap = store_.snapshot();
  const k8s::Node* node = snap ? snap->node(config_.node_name) : nullptr;
  if (!node) return out;
  json addrs = json::array();
  for (const auto& a : node->addresses)
    addrs.push_back({{"type", a.type}, {"address", a.address}});
  out["found"] = true;
  out["addresses"] = addrs;
  out["labels"] = node->meta.labels;
  json cidrs = json::array();
  for (const auto& c : node->pod_cidrs)
    cidrs.push_back(c.str());
  out["pod_cidrs"] = cidrs;
  out["source"] = node->source.str();
  return out;
}

namespace {

json topic_names(const std::vector<store::Topic>& topics) {
  json names = json::array();
  for (const auto& t : topics)
    names.push_back(std::string(t.name));
  return names;
}

}  // namespace

json Agent::last_check() const {
  if (last_check_.is_null()) return nullptr;
  json out = last_check_;
  out["seconds_ago"] =
      std::max(0.0, std::chrono::duration<double>(SysClock::now().time_since_epoch()).count() -
                        last_check_.value("unix_time", 0.0));
  out.erase("unix_time");
  return out;
}

json Agent::status() const {
  json recs = json::array();
  for (const auto& p : parts_) {
    json s;
    try {
      s = p->reconciler->status();
    } catch (const std::exception& e) {
      s = {{"status_error", e.what()}};
    }
    recs.push_back({{"name", p->name},
                    {"state", !p->applied_once ? "pending"
                              : p->healthy     ? "ok"
                                               : "error"},
                    {"applies", p->applies},
                    {"errors", p->errors},
                    {"applied_generation", p->applied_generation},
                    {"reads", topic_names(p->inputs)},
                    {"publishes", topic_names(p->outputs)},
                    {"last_error", p->last_error.empty() ? json() : json(p->last_error)},
                    {"last_error_at", timestamp(p->last_error_at)},
                    {"last_success_at", timestamp(p->last_success_at)},
                    {"last_duration_seconds", p->applied_once ? json(p->last_duration) : json()},
                    {"status", s}});
  }
  json snapshot = nullptr;
  if (const auto& snap = store_.snapshot()) {
    snapshot = {{"generation", generation()},
                {"received_at", timestamp(snapshot_at_)},
                {"received_seconds_ago", seconds_ago(snapshot_at_)},
                {"services", snap->services.size()},
                {"endpoint_slices", snap->endpoint_slices.size()},
                {"pods", snap->pods.size()},
                {"namespaces", snap->namespaces.size()},
                {"nodes", snap->nodes.size()},
                {"objects", snap->objects.size()},
                {"ignored_kinds", snap->ignored_kinds}};
  }
  return {{"version", version()},
          {"pid", ::getpid()},
          {"started_at", timestamp(started_at_)},
          {"uptime_seconds", std::chrono::duration<double>(Clock::now() - started_steady_).count()},
          {"node", node_status()},
          {"config", config_.to_json()},
          {"bpf_root_lock",
           {{"path", config_.bpf_root}, {"held", bpf_root_lock_.held()}, {"kind", "flock"}}},
          {"source", source_status()},
          {"snapshot", snapshot},
          {"store", store_.status()},
          {"datapath_check",
           {{"interval_seconds", config_.datapath_verify_interval},
            {"checks", checks_},
            {"checks_repaired", checks_repaired_},
            {"checks_failed", checks_failed_},
            {"repaired_total", repaired_total_},
            {"last", last_check()}}},
          {"limits", limits_status()},
          {"reconcilers", recs}};
}

json Agent::limits_status() const {
  json listeners{{"api", listener_json(api_server_.stats())}};
  if (!config_.metrics_addr.empty()) listeners["metrics"] = listener_json(metrics_server_.stats());
  json out{{"fd_limit", config_.fd_limit == 0 ? json() : json(config_.fd_limit)},
           {"fd_reserve", kFdReserve},
           {"http_idle_timeout_seconds", config_.http_idle_timeout},
           {"http_request_timeout_seconds", config_.http_request_timeout},
           {"listeners", listeners}};
  // The listeners' state in one word: "ok", or which one is at its cap or failing to accept.
  std::vector<std::string> faults;
  for (const auto& [name, l] : listeners.items()) {
    if (l["connections"].get<size_t>() >= l["max_connections"].get<size_t>() &&
        l["max_connections"].get<size_t>() > 0) {
      faults.push_back(name + " at its connection cap");
    }
  }
  if (faults.empty()) {
    out["state"] = "ok";
  } else {
    std::string s;
    for (const auto& f : faults)
      s += (s.empty() ? "" : "; ") + f;
    out["state"] = s;
  }
  return out;
}

std::string Agent::metrics_endpoint() const {
  auto ep = metrics_server_.local_endpoint();
  if (ep.port() == 0) return "";
  return (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) +
         ":" + std::to_string(ep.port());
}

int Agent::run() {
  spdlog::info("netagent {} starting: node {}, source {}, devices [{}], bpf-root {}, cgroup {}",
               version(), config_.node_name, source_ ? source_->describe() : "none",
               fmt::join(config_.devices, ","), config_.bpf_root, config_.cgroup);

  if (auto st = api_server_.listen(config_.api_socket); !st) {
    const bool busy = st.error().errnum == EADDRINUSE;
    spdlog::critical("cannot serve the API: {}", st.error().str());
    return busy ? kExitAlreadyRunning : kExitHostSetup;
  }
  spdlog::info("API listening on {} (netctl --socket {})", config_.api_socket, config_.api_socket);

  if (!config_.metrics_addr.empty()) {
    if (auto st = metrics_server_.listen(config_.metrics_host, config_.metrics_port); !st) {
      spdlog::critical("{}; choose another --metrics-addr, or disable it with --metrics-addr ''",
                       st.error().str());
      api_server_.stop();
      return kExitHostSetup;
    }
    spdlog::info("Prometheus metrics on http://{}/metrics", metrics_endpoint());
  } else {
    spdlog::info("metrics listener disabled (--metrics-addr ''); GET /v1/metrics still works");
  }

  for (auto& p : parts_) {
    Status st;
    try {
      st = p->reconciler->start();
    } catch (const std::exception& e) {
      st = Error{std::string("threw: ") + e.what()};
    }
    if (!st) {
      spdlog::critical(
          "reconciler {} failed to start: {}; nothing was changed by this agent "
          "run, fix the cause and start it again",
          p->name, st.error().str());
      for (auto it = parts_.rbegin(); it != parts_.rend(); ++it)
        (*it)->reconciler->stop();
      api_server_.stop();
      metrics_server_.stop();
      return kExitFailed;
    }
    spdlog::debug("reconciler {} started", p->name);
  }

  watch_signals();
  schedule_heap_check();
  running_ = true;
  schedule_verify();
  if (source_) {
    asio::post(io_, [this] {
      if (stopping_) return;
      spdlog::info("loading desired state from {}", source_->describe());
      try {
        source_->start(
            [this](std::shared_ptr<const k8s::Snapshot> s) { on_snapshot(std::move(s)); },
            [this](const std::vector<k8s::DecodeError>& e) { on_source_errors(e); });
      } catch (const std::exception& e) {
        spdlog::critical("the desired-state source {} failed to start: {}", source_->describe(),
                         e.what());
        exit_code_ = kExitFailed;
        shutdown("source failure");
      }
    });
  } else {
    spdlog::warn(
        "no desired-state source in this build: the agent runs idle (API and metrics "
        "only)");
  }

  io_.run();
  running_ = false;
  if (exit_code_ != kExitOk) return exit_code_;
  spdlog::info(
      "netagent stopped; pinned BPF maps and programs stay in place under {} "
      "(netagent --cleanup removes them)",
      config_.bpf_root);
  return kExitOk;
}

void Agent::watch_signals() {
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading the desired state and re-applying it to every reconciler");
      request_resync();
      watch_signals();
      return;
    }
    shutdown(sig == SIGTERM ? "SIGTERM" : "SIGINT");
  });
}

void Agent::request_stop() {
  asio::post(io_, [this] { shutdown("stop requested"); });
}

void Agent::request_resync() {
  asio::post(io_, [this] {
    if (!stopping_) resync("resync");
  });
}

json Agent::resync(const std::string& trigger) {
  // First the kernel back to what each part programmed, then the model to the desired state:
  // the full apply diffs against a truthful picture of the maps.
  json check = verify_datapath(trigger);
  const uint64_t before = generation();
  if (reload_) {
    try {
      reload_();
    } catch (const std::exception& e) {
      spdlog::error("reloading {} failed: {}", source_ ? source_->describe() : "the source",
                    e.what());
    }
  }
  // A reload that found changes has applied the new snapshot already.
  if (generation() == before && store_.snapshot()) {
    for (auto& p : parts_)
      p->dirty = true;
    run_pass();
  }
  json recs = json::array();
  for (const auto& p : parts_) {
    recs.push_back({{"name", p->name},
                    {"state", !p->applied_once ? "pending"
                              : p->healthy     ? "ok"
                                               : "error"},
                    {"last_error", p->last_error.empty() ? json() : json(p->last_error)}});
  }
  return {{"datapath_check", check}, {"generation", generation()}, {"reconcilers", recs}};
}

void Agent::schedule_verify() {
  if (config_.datapath_verify_interval == 0) return;
  verify_timer_.expires_after(std::chrono::seconds(config_.datapath_verify_interval));
  verify_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    verify_datapath("periodic");
    schedule_verify();
  });
}

json Agent::verify_datapath(const std::string& trigger) {
  const auto t0 = Clock::now();
  const auto at = SysClock::now();
  json parts = json::array();
  uint64_t repaired = 0, checked = 0;
  std::vector<std::string> failed, summary;
  for (auto& p : parts_) {
    Result<store::DriftReport> r = store::DriftReport{};
    try {
      r = p->reconciler->verify_datapath();
    } catch (const std::exception& e) {
      r = Error{std::string("threw: ") + e.what()};
    }
    if (!r) {
      failed.push_back(p->name + ": " + r.error().str());
      parts.push_back({{"name", p->name}, {"error", r.error().str()}});
      continue;
    }
    json maps = json::object();
    for (const auto& [map, d] : r->maps) {
      maps[map] = {{"missing", d.missing}, {"extra", d.extra}, {"changed", d.changed}};
      m_drift_repaired_->with({p->name, map}).inc(double(d.total()));
      summary.push_back(fmt::format("{} {} (missing {}, extra {}, changed {})", p->name, map,
                                    d.missing, d.extra, d.changed));
    }
    if (!r->attachments.empty()) {
      m_drift_attachments_->with({p->name}).inc(double(r->attachments.size()));
      summary.push_back(
          fmt::format("{} attachments ({})", p->name, fmt::join(r->attachments, ", ")));
    }
    repaired += r->repaired();
    checked += r->entries_checked;
    for (const auto& u : r->unrepaired)
      failed.push_back(p->name + ": left as found: " + u);
    // Parts that own nothing to check stay out of the record.
    if (r->entries_checked == 0 && r->clean() && r->unrepaired.empty()) continue;
    parts.push_back({{"name", p->name},
                     {"entries_checked", r->entries_checked},
                     {"repaired", r->repaired()},
                     {"maps", maps},
                     {"attachments", r->attachments},
                     {"unrepaired", r->unrepaired}});
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string result = !failed.empty() ? "error" : repaired ? "repaired" : "clean";
  ++checks_;
  if (repaired) ++checks_repaired_;
  if (!failed.empty()) ++checks_failed_;
  repaired_total_ += repaired;
  m_drift_checks_->with({result}).inc();
  if (!failed.empty()) {
    // A failing part may have repaired part of its drift before the error; the next check (or a
    // resync) finds what is left.
    spdlog::error(
        "datapath check ({}) failed: {}; the other parts repaired {}{} (netctl status shows the "
        "error; the next check or POST /v1/resync tries again)",
        trigger, fmt::join(failed, "; "), repaired,
        summary.empty() ? "" : ": " + fmt::format("{}", fmt::join(summary, "; ")));
  } else if (repaired) {
    spdlog::warn(
        "datapath check ({}): the kernel differed from what the agent programmed; repaired {}: "
        "{}",
        trigger, repaired, fmt::join(summary, "; "));
  } else {
    spdlog::debug("datapath check ({}): {} entries as programmed ({:.1f} ms)", trigger, checked,
                  secs * 1000);
  }
  last_check_ = {{"at", timestamp(at)},
                 {"unix_time", unix_seconds(at)},
                 {"trigger", trigger},
                 {"result", result},
                 {"duration_seconds", secs},
                 {"entries_checked", checked},
                 {"repaired", repaired},
                 {"errors", failed},
                 {"parts", parts}};
  json out = last_check_;
  out.erase("unix_time");
  return out;
}

void Agent::shutdown(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  spdlog::info("{}: stopping (the datapath keeps running as programmed)", why);
  if (source_) source_->stop();
  for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
    (*it)->retry->cancel();
    try {
      (*it)->reconciler->stop();
    } catch (const std::exception& e) {
      spdlog::warn("reconciler {} failed to stop cleanly: {}", (*it)->name, e.what());
    }
  }
  api_server_.stop();
  metrics_server_.stop();
  heap_timer_.cancel();
  verify_timer_.cancel();
  boost::system::error_code ec;
  signals_.cancel(ec);
  // Parts may still have work on the io_context (BGP sessions closing): wait for each one's
  // drain, at most kDrainLimit, then stop.
  auto pending = std::make_shared<size_t>(parts_.size() + 1);
  auto deadline = std::make_shared<asio::steady_timer>(io_, store::kDrainLimit);
  auto finish = [this, pending, deadline] {
    if (*pending == 0) return;
    if (--*pending == 0) {
      deadline->cancel();
      io_.stop();
    }
  };
  deadline->async_wait([this, pending](const boost::system::error_code& e) {
    if (e || *pending == 0) return;
    spdlog::warn("{} part(s) did not finish stopping within {} s", *pending - 1,
                 store::kDrainLimit.count());
    *pending = 0;
    io_.stop();
  });
  for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
    try {
      (*it)->reconciler->drain(finish);
    } catch (const std::exception& e) {
      spdlog::warn("reconciler {} failed to drain: {}", (*it)->name, e.what());
      finish();
    }
  }
  finish();
}

void Agent::on_snapshot(std::shared_ptr<const k8s::Snapshot> snapshot) {
  if (stopping_ || !snapshot) return;
  store_.set_snapshot(std::move(snapshot));
  const auto& snap = store_.snapshot();
  snapshot_at_ = SysClock::now();
  source_errors_.clear();
  spdlog::info(
      "desired state {}: {} services, {} endpoint slices, {} pods, {} nodes, {} other "
      "objects",
      generation(), snap->services.size(), snap->endpoint_slices.size(), snap->pods.size(),
      snap->nodes.size(), snap->objects.size());

  const bool found = snap->node(config_.node_name) != nullptr;
  if (!node_checked_ || found != node_found_) {
    if (found) {
      spdlog::info("node {} found in the desired state", config_.node_name);
    } else {
      spdlog::warn(
          "no Node named '{}' in {}: this node's addresses and labels are "
          "unknown; add one, or pass --node-name with the right name",
          config_.node_name, source_ ? source_->describe() : "the desired state");
    }
  }
  node_checked_ = true;
  node_found_ = found;

  // A new desired state may be what a failing part needed (a tree that fits its maps again):
  // its back-off starts over, so a failure of this apply is retried after the first delay.
  for (auto& p : parts_) {
    p->dirty = true;
    p->backoff = kRetryFirst;
  }
  run_pass();
}

void Agent::on_publish(const store::Topic& topic) {
  bool any = false;
  for (auto& p : parts_) {
    if (std::find(p->inputs.begin(), p->inputs.end(), topic) != p->inputs.end()) {
      p->dirty = true;
      any = true;
    }
  }
  if (any) schedule_pass();
}

void Agent::schedule_pass() {
  // A publish during a pass is picked up by that pass (readers come after their publishers).
  if (in_pass_ || pass_scheduled_) return;
  pass_scheduled_ = true;
  asio::post(io_, [this] {
    pass_scheduled_ = false;
    if (!stopping_ && running_) run_pass();
  });
}

void Agent::run_pass() {
  if (!store_.snapshot() || in_pass_) return;
  in_pass_ = true;
  for (auto& p : parts_) {
    if (!p->dirty) continue;
    p->dirty = false;
    apply(*p);
  }
  in_pass_ = false;
  release_freed_heap();
}

namespace {

// Resident set size of this process, in bytes.
size_t resident_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return size_t(resident) * size_t(sysconf(_SC_PAGESIZE));
}

constexpr size_t kHeapSlack = 32u << 20;  // resident beyond 1.25x the heap in use, to trim
constexpr std::chrono::seconds kHeapCheckInterval{10};

}  // namespace

// glibc gives memory back to the kernel only from the top of its heap; after a large apply and
// delete (100,000 backends, say) a few live allocations high in the heap keep the process at its
// high-water mark although almost nothing is in use (measured: 424 MiB held, 0.5 MiB in use). When
// the resident size exceeds 1.25 times what the heap has in use by more than kHeapSlack, the free
// pages are returned (malloc_trim releases whole free pages anywhere in the heap). Checked after
// every pass and every kHeapCheckInterval (memory freed outside a pass: retired backends).
void Agent::release_freed_heap() {
  const struct mallinfo2 mi = mallinfo2();
  const size_t in_use = mi.uordblks + mi.hblkhd;
  const size_t before = resident_bytes();
  // 1.25x: an API source's initial list leaves tens of MiB of parsed JSON freed but resident
  // (10,000 services: 164 MiB resident for 98 MiB in use); a trim is cheap next to that.
  if (before <= in_use + in_use / 4 + kHeapSlack) return;
  // Resident memory that a trim cannot give back (mappings outside the heap) must not make every
  // check trim and log again: after a trim, trim again only once the process has grown, or the
  // heap in use has shrunk, by kHeapSlack since.
  if (before <= resident_after_trim_ + kHeapSlack && in_use + kHeapSlack >= in_use_at_trim_) return;
  malloc_trim(0);
  const size_t after = resident_bytes();
  resident_after_trim_ = after;
  in_use_at_trim_ = in_use;
  const size_t released = before > after ? before - after : 0;
  heap_trims_->inc();
  heap_released_->inc(double(released));
  spdlog::info(
      "gave {:.1f} MiB of freed heap back to the kernel (resident {:.1f} -> {:.1f} MiB, "
      "heap in use {:.1f} MiB)",
      double(released) / (1 << 20), double(before) / (1 << 20), double(after) / (1 << 20),
      double(in_use) / (1 << 20));
}

void Agent::schedule_heap_check() {
  heap_timer_.expires_after(kHeapCheckInterval);
  heap_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    release_freed_heap();
    schedule_heap_check();
  });
}

void Agent::on_source_errors(const std::vector<k8s::DecodeError>& errors) {
  if (stopping_) return;
  source_errors_ = errors;
  spdlog::error(
      "desired state rejected: {} error(s); keeping the last good state{}; fix the "
      "manifests (netctl status lists the errors)",
      errors.size(), store_.snapshot() ? "" : " (none loaded yet)");
  // The source logs each error where it finds it; repeat them only for debugging.
  for (const auto& e : errors)
    spdlog::debug("rejected: {}", e.str());
}

void Agent::apply(Part& p) {
  if (!store_.snapshot()) return;
  p.retry->cancel();
  const auto t0 = Clock::now();
  Status st;
  try {
    st = p.reconciler->apply(store_);
  } catch (const std::exception& e) {
    st = Error{std::string("threw: ") + e.what()};
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  ++p.applies;
  p.applied_once = true;
  p.last_duration = secs;
  p.m_applies->inc();
  p.m_duration->observe(secs);
  if (st) {
    if (!p.healthy) spdlog::info("reconciler {} recovered", p.name);
    p.healthy = true;
    p.last_error.clear();
    p.last_success_at = SysClock::now();
    p.applied_generation = generation();
    p.backoff = kRetryFirst;
    p.m_healthy->set(1);
    spdlog::debug("reconciler {} applied snapshot {} in {:.3f} ms", p.name, generation(),
                  secs * 1000);
    return;
  }
  ++p.errors;
  p.healthy = false;
  p.last_error = st.error().str();
  p.last_error_at = SysClock::now();
  p.m_errors->inc();
  p.m_healthy->set(0);
  spdlog::error(
      "reconciler {} failed to apply snapshot {}: {}; what it programmed before stays, "
      "retrying in {}s (netctl status shows this error)",
      p.name, generation(), p.last_error, p.backoff.count());
  schedule_retry(p);
}

void Agent::schedule_retry(Part& p) {
  p.retry->expires_after(p.backoff);
  p.backoff = std::min(p.backoff * 2, std::chrono::seconds(kRetryMax));
  p.retry->async_wait([this, &p](const boost::system::error_code& ec) {
    if (ec || stopping_ || p.healthy) return;
    // As a pass: what the part publishes once it caught up re-applies its readers.
    p.dirty = true;
    run_pass();
  });
}

int Agent::cleanup() {
  int rc = kExitOk;
  for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
    Status st;
    try {
      st = (*it)->reconciler->cleanup();
    } catch (const std::exception& e) {
      st = Error{std::string("threw: ") + e.what()};
    }
    if (!st) {
      spdlog::error("cleanup of {} failed: {}", (*it)->name, st.error().str());
      rc = kExitFailed;
    } else {
      spdlog::info("cleaned up {}", (*it)->name);
    }
  }
  // The agent's own pins under bpf-root (unlinking a pin drops the kernel's reference; a program
  // or map goes away with its last reference). Other tools' pins and directories stay.
  auto pins = datapath::remove_agent_pins(config_.bpf_root);
  if (!pins) {
    spdlog::error("cannot remove the pins under {}: {}", config_.bpf_root, pins.error().str());
    rc = kExitFailed;
  } else {
    spdlog::info("removed {} netagent pins under {}{}", pins->removed.size(), config_.bpf_root,
                 pins->root_removed ? " and the directory" : "");
    if (!pins->left.empty()) {
      spdlog::warn("left {} entries under {} that netagent did not pin: {}", pins->left.size(),
                   config_.bpf_root, fmt::join(pins->left, ", "));
    }
  }
  struct stat st {};
  if (::lstat(config_.api_socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      !api::socket_answers(config_.api_socket)) {
    ::unlink(config_.api_socket.c_str());
  }
  return rc;
}

}  // namespace netagent::agent
