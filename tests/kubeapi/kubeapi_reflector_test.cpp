// The reflector against a scripted API server on 127.0.0.1:0 in the test process: list and
// paging, WatchList and its fallback, bookmarks, resuming and relisting, back-off, stop().
#include <gtest/gtest.h>

#include <random>

#include "netagent/kubeapi/reflector.hpp"
#include "scripted_server.hpp"

using namespace netagent;
using namespace netagent::kubeapi;
using namespace netagent::kubeapi::testing;
using End = Response::End;
using Type = WatchEvent::Type;

namespace {

const Resource kServices{"", "v1", "services", "Service", true};

json obj(const std::string& name, const std::string& rv) {
  return {{"metadata", {{"name", name}, {"namespace", "default"}, {"resourceVersion", rv}}}};
}

std::string event(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

std::string bookmark(const std::string& rv, bool initial_end = false) {
  json o = {{"kind", "Service"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}};
  if (initial_end) o["metadata"]["annotations"] = {{"k8s.io/initial-events-end", "true"}};
  return event("BOOKMARK", o);
}

std::string status(unsigned code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
              {"code", code},     {"reason", reason},   {"message", message}}
      .dump();
}

Response list_page(std::vector<json> items, const std::string& rv, const std::string& cont = "") {
  json meta = {{"resourceVersion", rv}};
  if (!cont.empty()) meta["continue"] = cont;
  return Response::json_body(
      200, json{{"kind", "ServiceList"}, {"metadata", meta}, {"items", std::move(items)}}.dump());
}

struct Recorder {
  std::vector<std::pair<std::vector<json>, std::string>> replaces;
  std::vector<std::pair<Type, json>> events;
  std::vector<std::pair<ReflectorState, std::string>> states;
  size_t callbacks = 0;

  ReflectorHandler handler() {
    return {[this](std::vector<json> items, const std::string& rv) {
              ++callbacks;
              replaces.emplace_back(std::move(items), rv);
            },
            [this](Type t, json o) {
              ++callbacks;
              events.emplace_back(t, std::move(o));
            },
            [this](ReflectorState s, const std::string& d) {
              ++callbacks;
              states.emplace_back(s, d);
            }};
  }
  std::vector<std::string> names(size_t replace) const {
    std::vector<std::string> out;
    for (auto& o : replaces.at(replace).first)
      out.push_back(o["metadata"]["name"]);
    return out;
  }
  bool saw(ReflectorState s) const {
    for (auto& [st, d] : states)
      if (st == s) return true;
    return false;
  }
};

bool is_watch(const Req& r) {
  return r.q("watch") == "1";
}

std::shared_ptr<Client> client_for(asio::io_context& io, const ScriptedServer& s) {
  ClientConfig cfg;
  cfg.server = s.url();
  auto c = Client::create(io, cfg);
  EXPECT_TRUE(c) << c.error().str();
  return *c;
}

ReflectorOptions fast(bool watch_list) {
  ReflectorOptions o;
  o.use_watch_list = watch_list;
  o.page_size = 2;
  o.retry_min = std::chrono::milliseconds(10);
  o.retry_max = std::chrono::milliseconds(40);
  o.watch_timeout = std::chrono::seconds(300);
  return o;
}

std::vector<std::string> watch_rvs(const ScriptedServer& s) {
  std::vector<std::string> out;
  for (auto& r : s.requests())
    if (is_watch(r) && !r.has("sendInitialEvents")) out.push_back(r.q("resourceVersion"));
  return out;
}

}  // namespace

TEST(KubeReflectorTest, ListsPagesThenWatchesAndResumesFromTheBookmark) {
  asio::io_context io;
  int watches = 0;
  ScriptedServer server(io, [&](const Req& r) {
    if (!is_watch(r)) {
      EXPECT_EQ(r.q("limit"), "2");
      if (r.q("continue").empty()) return list_page({obj("a", "90"), obj("b", "91")}, "100", "c1");
      return list_page({obj("c", "95")}, "100");
    }
    EXPECT_EQ(r.q("allowWatchBookmarks"), "true");
    EXPECT_EQ(r.q("timeoutSeconds"), "300");
    if (++watches == 1) {
      // The server's timeout ends the first watch after an event and a bookmark.
      return Response::streamed({event("ADDED", obj("d", "101")), bookmark("105")});
    }
    return Response::streamed({event("MODIFIED", obj("d", "106"))}, End::Hold);
  });
  Recorder rec;
  auto r =
      std::make_shared<Reflector>(client_for(io, server), kServices, fast(false), rec.handler());
  r->start();
  ASSERT_TRUE(run_until(io, [&] { return rec.events.size() >= 2; }));
  ASSERT_EQ(rec.replaces.size(), 1u);
  EXPECT_EQ(rec.names(0), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rec.replaces[0].second, "100");
  EXPECT_EQ(rec.replaces[0].first[0]["kind"], "Service");
  EXPECT_EQ(rec.events[0].first, Type::Added);
  EXPECT_EQ(rec.events[1].first, Type::Modified);
  EXPECT_EQ(watch_rvs(server), (std::vector<std::string>{"100", "105"}));
  const auto& st = r->stats();
  EXPECT_EQ(st.state, ReflectorState::Synced);
  EXPECT_EQ(st.lists, 1u);
  EXPECT_EQ(st.watch_lists, 0u);
  EXPECT_EQ(st.events, 2u);
  EXPECT_EQ(st.bookmarks, 1u);
  EXPECT_EQ(st.watches, 2u);
  EXPECT_EQ(st.failures, 0u);
  EXPECT_EQ(st.resource_version, "106");
  EXPECT_TRUE(rec.saw(ReflectorState::Syncing));
  EXPECT_EQ(rec.states.back().first, ReflectorState::Synced);
  r->stop();
}

TEST(KubeReflectorTest, GoneOnAContinueTokenListsAgainFromTheStart) {
  asio::io_context io;
  int continues = 0;
  ScriptedServer server(io, [&](const Req& r) {
    if (is_watch(r)) return Response::streamed({}, End::Hold);
    if (r.q("continue").empty()) return list_page({obj("a", "1"), obj("b", "2")}, "50", "c1");
    if (++continues == 1) {
      return Response::json_body(410, status(410, "Expired", "continue token too old"));
    }
    return list_page({obj("c", "3")}, "50");
  });
  Recorder rec;
  Reflector r(client_for(io, server), kServices, fast(false), rec.handler());
  r.start();
  ASSERT_TRUE(run_until(io, [&] { return watch_rvs(server).size() == 1; }));
  ASSERT_EQ(rec.replaces.size(), 1u);  // never the partial first page
  EXPECT_EQ(rec.names(0), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(server.requests().size(), 5u);  // p1, p2 (410), p1, p2, watch
  EXPECT_EQ(r.stats().failures, 0u);
  r.stop();
}

TEST(KubeReflectorTest, WatchListDeliversTheInitialEventsAsOneReplace) {
  asio::io_context io;
  ScriptedServer server(io, [&](const Req& r) {
    EXPECT_TRUE(is_watch(r)) << r.target;  // no list at all
    EXPECT_EQ(r.q("sendInitialEvents"), "true");
    EXPECT_EQ(r.q("resourceVersionMatch"), "NotOlderThan");
    EXPECT_EQ(r.q("allowWatchBookmarks"), "true");
    return Response::streamed({event("ADDED", obj("a", "5")), event("ADDED", obj("b", "6")),
                               bookmark("10", true), event("MODIFIED", obj("a", "11"))},
                              End::Hold);
  });
  Recorder rec;
  size_t events_at_replace = 99;
  auto h = rec.handler();
  auto inner = h.on_replace;
  h.on_replace = [&](std::vector<json> items, const std::string& rv) {
    events_at_replace = rec.events.size();
    inner(std::move(items), rv);
  };
  Reflector r(client_for(io, server), kServices, fast(true), h);
  r.start();
  ASSERT_TRUE(run_until(io, [&] { return rec.events.size() == 1; }));
  ASSERT_EQ(rec.replaces.size(), 1u);
  EXPECT_EQ(events_at_replace, 0u);
  EXPECT_EQ(rec.names(0), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(rec.replaces[0].second, "10");
  EXPECT_EQ(rec.replaces[0].first[1]["apiVersion"], "v1");
  EXPECT_EQ(rec.events[0].first, Type::Modified);
  EXPECT_EQ(r.stats().watch_lists, 1u);
  EXPECT_EQ(r.stats().lists, 1u);
  EXPECT_TRUE(r.stats().watch_list_supported);
  EXPECT_EQ(r.stats().resource_version, "11");
  EXPECT_EQ(server.requests().size(), 1u);
  r.stop();
}

TEST(KubeReflectorTest, ServerWithoutWatchListFallsBackToListAndRemembers) {
  asio::io_context io;
  int watches = 0;
  int lists = 0;
  ScriptedServer server(io, [&](const Req& r) {
    if (r.has("sendInitialEvents")) {
      return Response::json_body(400, status(400, "BadRequest", "unknown sendInitialEvents"));
    }
    if (!is_watch(r)) {
      ++lists;
      return list_page({obj(lists == 1 ? "a" : "b", "20")}, lists == 1 ? "20" : "40");
    }
    if (++watches == 1) {
      EXPECT_EQ(r.q("resourceVersion"), "20");
      // Compacted while we watched: an ERROR event with 410, then the server ends the stream.
      return Response::streamed(
          {event("ERROR", json::parse(status(410, "Expired", "too old resource version")))});
    }
    return Response::streamed({}, End::Hold);
  });
  Recorder rec;
  Reflector r(client_for(io, server), kServices, fast(true), rec.handler());
  r.start();
  ASSERT_TRUE(run_until(io, [&] { return rec.replaces.size() == 2 && watches == 2; }));
  EXPECT_EQ(rec.names(0), (std::vector<std::string>{"a"}));
  EXPECT_EQ(rec.names(1), (std::vector<std::string>{"b"}));  // the consumer diffs
  EXPECT_EQ(rec.replaces[1].second, "40");
  EXPECT_TRUE(rec.events.empty());
  const auto& st = r.stats();
  EXPECT_FALSE(st.watch_list_supported);
  EXPECT_EQ(st.lists, 2u);
  EXPECT_EQ(st.relists_gone, 1u);
  EXPECT_EQ(st.watch_lists, 0u);
  EXPECT_EQ(st.failures, 0u);
  int tried = 0;
  for (auto& q : server.requests())
    tried += q.has("sendInitialEvents");
  EXPECT_EQ(tried, 1);  // remembered: the relist is a plain list
  EXPECT_EQ(watch_rvs(server), (std::vector<std::string>{"20", "40"}));
  r.stop();
}

TEST(KubeReflectorTest, ServerIgnoringSendInitialEventsFallsBack) {
  asio::io_context io;
  ScriptedServer server(io, [&](const Req& r) {
    if (r.has("sendInitialEvents")) {
      // An old server: synthetic ADDED events, then an ordinary bookmark, never the end marker.
      return Response::streamed({event("ADDED", obj("a", "7")), bookmark("8")}, End::Hold);
    }
    if (!is_watch(r)) return list_page({obj("a", "7"), obj("z", "8")}, "9");
    return Response::streamed({}, End::Hold);
  });
  Recorder rec;
  Reflector r(client_for(io, server), kServices, fast(true), rec.handler());
  r.start();
  ASSERT_TRUE(run_until(io, [&] { return r.stats().state == ReflectorState::Synced; }));
  ASSERT_EQ(rec.replaces.size(), 1u);
  EXPECT_EQ(rec.names(0), (std::vector<std::string>{"a", "z"}));
  EXPECT_FALSE(r.stats().watch_list_supported);
  EXPECT_EQ(r.stats().watch_lists, 0u);
  r.stop();
}

TEST(KubeReflectorTest, StreamCutMidLineFailsThenResumesFromTheLastVersion) {
  asio::io_context io;
  int watches = 0;
  ScriptedServer server(io, [&](const Req& r) {
    if (!is_watch(r)) return list_page({obj("a", "100")}, "100");
    if (++watches == 1) {
      std::string half = event("MODIFIED", obj("x", "102")).substr(0, 17);
      return Response::streamed({event("ADDED", obj("x", "101")), half}, End::Cut);
    }
    return Response::streamed({event("DELETED", obj("x", "103"))}, End::Hold);
  });
  Recorder rec;
  Reflector r(client_for(io, server), kServices, fast(false), rec.handler());
  r.start();
  ASSERT_TRUE(run_until(io, [&] { return rec.events.size() == 2; }));
  EXPECT_EQ(rec.replaces.size(), 1u);  // resumed, not relisted
  EXPECT_EQ(watch_rvs(server), (std::vector<std::string>{"100", "101"}));
  EXPECT_EQ(rec.events[1].first, Type::Deleted);
  EXPECT_EQ(r.stats().failures, 1u);
  EXPECT_NE(r.stats().last_error.find("mid-line"), std::string::npos) << r.stats().last_error;
  EXPECT_TRUE(rec.saw(ReflectorState::Failing));
  EXPECT_EQ(r.stats().state, ReflectorState::Synced);
  r.stop();
}

TEST(KubeReflectorTest, GoneOnWatchRelists) {
  asio::io_context io;
  int lists = 0;
  ScriptedServer server(io, [&](const Req& r) {
    if (!is_watch(r)) {
      ++lists;
      return list_page({obj("a", "1")}, lists == 1 ? "10" : "30");
    }
    if (r.q("resourceVersion") == "10") {
      return Response::json_body(410, status(410, "Expired", "too old resource version: 10 (25)"));
    }
    return Response::streamed({}, End::Hold);
  });
  Recorder rec;
  Reflector r(client_for(io, server), kServices, fast(false), rec.handler());
  r.start();
  ASSERT_TRUE(
      run_until(io, [&] { return rec.replaces.size() == 2 && watch_rvs(server).size() == 2; }));
  EXPECT_EQ(rec.replaces[1].second, "30");
  EXPECT_EQ(r.stats().relists_gone, 1u);
  EXPECT_EQ(r.stats().failures, 0u);
  r.stop();
}

TEST(KubeReflectorTest, FailuresBackOffWithinBoundsThenSync) {
  asio::io_context io;
  std::vector<std::chrono::steady_clock::time_point> at;
  ScriptedServer server(io, [&](const Req& r) {
    if (is_watch(r)) return Response::streamed({}, End::Hold);
    at.push_back(std::chrono::steady_clock::now());
    if (at.size() <= 6) return Response::json_body(500, status(500, "InternalError", "etcd down"));
    return list_page({obj("a", "1")}, "5");
  });
  Recorder rec;
  ReflectorOptions o = fast(false);
  o.retry_min = std::chrono::milliseconds(20);
  o.retry_max = std::chrono::milliseconds(60);
  Reflector r(client_for(io, server), kServices, o, rec.handler());
  r.start();
  ASSERT_TRUE(run_until(io, [&] { return r.stats().state == ReflectorState::Synced; }));
  EXPECT_EQ(r.stats().failures, 6u);
  EXPECT_NE(r.stats().last_error.find("500 Internal Server Error: InternalError: etcd down"),
            std::string::npos)
      << r.stats().last_error;
  ASSERT_EQ(at.size(), 7u);
  for (size_t i = 1; i < at.size(); ++i) {
    auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(at[i] - at[i - 1]);
    EXPECT_GE(gap.count(), 20) << i;
    EXPECT_LE(gap.count(), 60 + 200) << i;  // the bound plus scheduling slack
  }
  EXPECT_EQ(rec.replaces.size(), 1u);
  r.stop();
}

TEST(KubeReflectorTest, BackoffDelayIsExponentialWithFullJitterWithinBounds) {
  using ms = std::chrono::milliseconds;
  std::mt19937_64 rng(42);
  for (unsigned n = 1; n < 40; ++n) {
    int64_t cap = std::min<int64_t>(30000, 200 * (int64_t{1} << std::min(n - 1, 20u)));
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 200; ++i) {
      auto d = backoff_delay(n, ms(200), ms(30000), rng());
      ASSERT_GE(d.count(), 200) << n;
      ASSERT_LE(d.count(), cap) << n;
      lo = std::min(lo, d.count());
      hi = std::max(hi, d.count());
    }
    if (cap > 1000) {
      EXPECT_LT(lo, 200 + (cap - 200) / 4) << n;  // spread over the range: jitter
      EXPECT_GT(hi, 200 + (cap - 200) * 3 / 4) << n;
    }
  }
  EXPECT_EQ(backoff_delay(1, ms(200), ms(30000), 12345), ms(200));
  EXPECT_EQ(backoff_delay(0, ms(200), ms(30000), 12345), ms(200));
  EXPECT_EQ(backoff_delay(5, ms(500), ms(100), 7), ms(500));  // max under min: min
}

TEST(KubeReflectorTest, NoCallbackAfterStop) {
  asio::io_context io;
  std::vector<std::string> chunks;
  for (int i = 0; i < 100; ++i)
    chunks.push_back(event("MODIFIED", obj("a", std::to_string(200 + i))));
  ScriptedServer server(io, [&](const Req& r) {
    if (!is_watch(r)) return list_page({obj("a", "100")}, "100");
    return Response::streamed(chunks, End::Hold);
  });
  Recorder rec;
  auto r = std::make_unique<Reflector>(client_for(io, server), kServices, fast(false),
                                       ReflectorHandler{});
  auto h = rec.handler();
  auto inner = h.on_event;
  h.on_event = [&](Type t, json o) {
    inner(t, std::move(o));
    if (rec.events.size() == 3) r->stop();  // from inside a callback
  };
  r = std::make_unique<Reflector>(client_for(io, server), kServices, fast(false), h);
  r->start();
  ASSERT_TRUE(run_until(io, [&] { return rec.events.size() >= 3; }));
  size_t calls = rec.callbacks;
  run_until(
      io, [] { return false; }, std::chrono::milliseconds(300));
  EXPECT_EQ(rec.callbacks, calls);
  EXPECT_EQ(rec.events.size(), 3u);
  r.reset();
  run_until(
      io, [] { return false; }, std::chrono::milliseconds(50));

  // Stopped and destroyed early (its list in flight, or just delivered): nothing runs after.
  Recorder rec2;
  auto r2 =
      std::make_unique<Reflector>(client_for(io, server), kServices, fast(false), rec2.handler());
  r2->start();
  io.restart();
  io.poll();  // the list request goes out
  r2->stop();
  size_t calls2 = rec2.callbacks;
  r2.reset();
  run_until(
      io, [] { return false; }, std::chrono::milliseconds(200));
  EXPECT_EQ(rec2.callbacks, calls2);  // (the list may or may not have come back before stop())
  server.stop();
  run_until(
      io, [] { return false; }, std::chrono::milliseconds(50));
}
