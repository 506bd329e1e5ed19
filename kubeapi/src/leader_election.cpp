#include "netagent/kubeapi/leader_election.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>
#include <random>

namespace netagent::kubeapi {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

Resource lease_resource() {
  return Resource{"coordination.k8s.io", "v1", "leases", "Lease", true};
}

std::string micro_time(std::chrono::system_clock::time_point t) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[128];  // room for any int each directive may print (-Wformat-truncation)
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(us % 1000000));
  return buf;
}

namespace {

std::string holder_of(const json& lease) {
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return "";
  auto h = spec->find("holderIdentity");
  return h != spec->end() && h->is_string() ? h->get<std::string>() : "";
}

int64_t duration_of(const json& lease, int64_t fallback) {
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return fallback;
  auto d = spec->find("leaseDurationSeconds");
  return d != spec->end() && d->is_number_integer() ? d->get<int64_t>() : fallback;
}

}  // namespace

LeaderElector::LeaderElector(std::shared_ptr<Client> client, LeaderElectionOptions options,
                             LeaderCallbacks callbacks)
    : client_(std::move(client)),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      timer_(client_->io()) {}

LeaderElector::~LeaderElector() = default;

void LeaderElector::start() {
  if (running_) return;
  running_ = true;
  attempt();
}

void LeaderElector::stop(std::function<void()> done) {
  if (!running_ || stopping_) {
    if (done) done();
    return;
  }
  stopping_ = true;
  on_stopped_ = std::move(done);
  // A pending wait ends now and finishes; an attempt in flight finishes when it returns.
  timer_.cancel();
}

void LeaderElector::set_holder(const std::string& holder) {
  if (holder == stats_.holder) return;
  stats_.holder = holder;
  if (callbacks_.on_new_leader) notify([fn = callbacks_.on_new_leader, holder] { fn(holder); });
}

// Callbacks run from the io_context, never from inside this coroutine: a callback that starts a
// coroutine of its own (the status writer does) would otherwise launch it in the middle of this
// one's execution, and with Boost 1.74 this coroutine then never resumed from its next wait.
void LeaderElector::notify(std::function<void()> fn) {
  if (!fn) return;
  asio::post(client_->io(), [self = shared_from_this(), fn = std::move(fn)] {
    if (!self->stopped_callbacks_) fn();
  });
}

json LeaderElector::lease_body(const json* current, bool renew) const {
  const auto now = micro_time(std::chrono::system_clock::now());
  json spec = {
      {"holderIdentity", options_.identity},
      {"leaseDurationSeconds",
       std::max<int64_t>(
           1, std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count())},
      {"renewTime", now}};
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", options_.name}, {"namespace", options_.ns}}}};
  if (current) {
    lease["metadata"] = (*current)["metadata"];  // resourceVersion: the write is conditional
    const json& old = current->value("spec", json::object());
    int64_t transitions = old.value("leaseTransitions", int64_t{0});
    if (renew) {
      spec["acquireTime"] = old.value("acquireTime", now);
      spec["leaseTransitions"] = transitions;
    } else {
      spec["acquireTime"] = now;
      spec["leaseTransitions"] = transitions + 1;
    }
  } else {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = 0;
  }
  lease["spec"] = std::move(spec);
  return lease;
}

asio::awaitable<bool> LeaderElector::try_acquire_or_renew() {
  const auto r = lease_resource();
  auto got = co_await client_->get(r, options_.ns, options_.name);
  if (!ok(got)) {
    const ApiError& e = error(got);
    if (!e.not_found()) {
      stats_.last_error = e.error.str();
      stats_.failures++;
      co_return false;
    }
    // Named, not a temporary argument: GCC 12 frees temporaries passed to a coroutine twice.
    json fresh = lease_body(nullptr, false);
    auto created = co_await client_->create(r, options_.ns, std::move(fresh));
    if (!ok(created)) {
      // 409: another candidate created it first.
      stats_.last_error = error(created).error.str();
      stats_.failures++;
      co_return false;
    }
    observed_record_ = value(created).value("spec", json::object()).dump();
    observed_at_ = SteadyClock::now();
    set_holder(options_.identity);
    co_return true;
  }
  json& lease = value(got);
  const std::string holder = holder_of(lease);
  const std::string record = lease.value("spec", json::object()).dump();
  if (record != observed_record_) {
    observed_record_ = record;
    observed_at_ = SteadyClock::now();
  }
  set_holder(holder);
  const bool mine = holder == options_.identity;
  if (!holder.empty() && !mine) {
    const auto duration = std::chrono::seconds(duration_of(
        lease, std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count()));
    if (observed_at_ + duration > SteadyClock::now()) co_return false;  // held, not expired
  }
  json next = lease_body(&lease, mine);
  auto updated = co_await client_->update(r, options_.ns, std::move(next));
  if (!ok(updated)) {
    stats_.last_error = error(updated).error.str();
    stats_.failures++;
    co_return false;
  }
  observed_record_ = value(updated).value("spec", json::object()).dump();
  observed_at_ = SteadyClock::now();
  set_holder(options_.identity);
  co_return true;
}

asio::awaitable<void> LeaderElector::release() {
  const auto r = lease_resource();
  auto got = co_await client_->get(r, options_.ns, options_.name);
  if (!ok(got) || holder_of(value(got)) != options_.identity) co_return;
  json lease = value(got);
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = micro_time(std::chrono::system_clock::now());
  auto updated = co_await client_->update(r, options_.ns, lease);
  if (!ok(updated)) {
    spdlog::warn("leader election: releasing Lease {}/{} failed: {}", options_.ns, options_.name,
                 error(updated).error.str());
  } else {
    spdlog::info("leader election: released Lease {}/{}", options_.ns, options_.name);
  }
}

// One attempt at a time: a coroutine per attempt, and the wait between attempts a plain timer
// handler (not a wait inside one long-lived coroutine).
void LeaderElector::attempt() {
  asio::co_spawn(client_->io(), try_acquire_or_renew(),
                 [self = shared_from_this()](std::exception_ptr e, bool held) {
                   if (e) {
                     self->stats_.failures++;
                     self->stats_.last_error = "leader election attempt failed";
                     held = false;
                   }
                   self->after_attempt(held);
                 });
}

void LeaderElector::after_attempt(bool held) {
  spdlog::debug("leader election: {} {} Lease {}/{} (holder '{}')", options_.identity,
                held ? "holds" : "does not hold", options_.ns, options_.name, stats_.holder);
  if (stopping_) return finish();
  const auto now = SteadyClock::now();
  if (held) {
    last_renew_ = now;
    stats_.last_renew = std::chrono::system_clock::now();
    if (!stats_.leader) {
      stats_.leader = true;
      stats_.acquired++;
      spdlog::info("leader election: {} now leads Lease {}/{}", options_.identity, options_.ns,
                   options_.name);
      notify(callbacks_.on_started_leading);
    } else {
      stats_.renewals++;
    }
  } else if (stats_.leader && now - last_renew_ > options_.renew_deadline) {
    // Not renewed within the deadline: stop before another candidate may take over.
    stats_.leader = false;
    stats_.lost++;
    spdlog::warn("leader election: {} lost Lease {}/{} (not renewed for {} ms: {})",
                 options_.identity, options_.ns, options_.name, options_.renew_deadline.count(),
                 stats_.last_error);
    notify(callbacks_.on_stopped_leading);
  }
  // Followers wait retry_period with up to 20% jitter (client-go's JitterFactor 1.2), so that
  // candidates do not all ask at once.
  auto wait = options_.retry_period;
  if (!stats_.leader) {
    std::uniform_int_distribution<int64_t> jitter(0, options_.retry_period.count() / 5);
    wait += std::chrono::milliseconds(jitter(rng_));
  }
  timer_.expires_after(wait);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code&) {
    if (self->stopping_) return self->finish();
    self->attempt();
  });
}

void LeaderElector::finish() {
  if (finishing_) return;
  finishing_ = true;
  auto done = [self = shared_from_this()] {
    self->running_ = false;
    // After the callbacks posted before it; none runs after `done`.
    asio::post(self->client_->io(), [self] {
      self->stopped_callbacks_ = true;
      if (self->on_stopped_) {
        auto fn = std::move(self->on_stopped_);
        fn();
      }
    });
  };
  if (!stats_.leader) return done();
  asio::co_spawn(client_->io(), release(), [self = shared_from_this(), done](std::exception_ptr) {
    self->stats_.leader = false;
    self->notify(self->callbacks_.on_stopped_leading);
    done();
  });
}

}  // namespace netagent::kubeapi
