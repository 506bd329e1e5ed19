#include "speak_control.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "netagent/common/number.hpp"

namespace netagent::bgp::speak {
namespace {

// The prefix `i` steps after `first` (steps of the prefix's size).
std::optional<Prefix> nth_prefix(const Prefix& first, uint64_t i) {
  if (first.addr.is_v4()) {
    uint64_t step = uint64_t(1) << (32 - first.len);
    uint64_t a = uint64_t(first.addr.as_v4().value) + i * step;
    if (i >= (uint64_t(1) << 32) || a > 0xffffffffull) return std::nullopt;
    Prefix p;
    p.addr = IpAddress::v4(Ipv4Addr{uint32_t(a)});
    p.len = first.len;
    return p;
  }
  auto b = first.addr.bytes();
  std::array<uint8_t, 16> a{};
  std::copy(b.begin(), b.end(), a.begin());
  unsigned width = unsigned(b.size()) * 8;
  // Add i << (width - len) to the address, big-endian, with carry.
  unsigned shift = width - first.len;
  unsigned __int128 add = static_cast<unsigned __int128>(i) << std::min(shift, 127u);
  unsigned __int128 carry = 0;
  for (int k = int(b.size()) - 1; k >= 0; --k) {
    unsigned __int128 sum = a[size_t(k)] + (add & 0xff) + carry;
    a[size_t(k)] = uint8_t(sum);
    carry = sum >> 8;
    add >>= 8;
  }
  if (carry || add) return std::nullopt;
  return Prefix::make(IpAddress::from_bytes({a.data(), b.size()}), first.len);
}

std::optional<uint64_t> parse_count(const std::string& s) {
  auto v = parse_integer<uint64_t>(s);
  if (!v || *v == 0 || *v > 10'000'000) return std::nullopt;
  return v;
}

}  // namespace

SpeakControl::SpeakControl(boost::asio::io_context& io, Speaker& speaker, std::string config_path,
                           std::function<void(StopMode)> stop)
    : io_(io), speaker_(speaker), config_path_(std::move(config_path)), stop_(std::move(stop)) {}

std::string SpeakControl::instance_or_first() const {
  if (!instance_.empty()) return instance_;
  const auto& in = speaker_.config().instances;
  return in.empty() ? std::string() : in.front().name;
}

Status SpeakControl::load() {
  auto file = load_speak_file(config_path_);
  if (!file) return file.error();
  if (auto st = speaker_.set_config(file->speaker); !st) return st;
  std::map<std::string, Table> next, from_file;
  for (const auto& in : file->speaker.instances) {
    auto& table = next[in.name];
    auto& file_table = from_file[in.name];
    for (const auto& r : file->routes[in.name])
      file_table[r.prefix] = r;
    table = file_table;
    // Routes announced by command since (absent from the previous file or changed) stay.
    auto& old = file_routes_[in.name];
    for (const auto& [p, r] : routes_[in.name]) {
      auto it = old.find(p);
      if (it == old.end() || !(it->second == r)) table.insert_or_assign(p, r);
    }
  }
  file_routes_ = std::move(from_file);
  routes_ = std::move(next);
  for (const auto& [name, table] : routes_) {
    std::vector<Route> v;
    v.reserve(table.size());
    for (const auto& [p, r] : table)
      v.push_back(r);
    if (auto st = speaker_.set_routes(name, v); !st) return st;
  }
  return {};
}

void SpeakControl::changed() {
  std::string name = instance_or_first();
  if (dirty_[name]) return;
  dirty_[name] = true;
  boost::asio::post(io_, [this, name] {
    dirty_[name] = false;
    auto started = std::chrono::steady_clock::now();
    std::vector<Route> v;
    v.reserve(routes_[name].size());
    for (const auto& [p, r] : routes_[name])
      v.push_back(r);
    if (auto st = speaker_.set_routes(name, v); !st) {
      spdlog::error("bgpspeak: {}", st.error().str());
    }
    spdlog::debug("bgpspeak: set_routes of {} routes took {} us", v.size(),
                  std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count());
  });
}

std::string SpeakControl::execute(const std::string& line) {
  std::istringstream in(line);
  std::string cmd;
  if (!(in >> cmd)) return "error: empty command";
  std::string rest;
  std::getline(in, rest);
  if (auto start = rest.find_first_not_of(' '); start != std::string::npos) {
    rest = rest.substr(start);
  } else {
    rest.clear();
  }
  std::string inst = instance_or_first();
  if (inst.empty() && cmd != "ping" && cmd != "reload" && cmd != "stop") {
    return "error: no instance configured";
  }
  auto& table = routes_[inst];

  if (cmd == "ping") return "ok pong";
  if (cmd == "announce") {
    auto r = parse_route(rest);
    if (!r) return "error: " + r.error().message;
    table[r->prefix] = *r;
    changed();
    return "ok announce " + r->prefix.str();
  }
  if (cmd == "announce-range" || cmd == "withdraw-range") {
    auto started = std::chrono::steady_clock::now();
    std::istringstream args(rest);
    std::string first_s, count_s, attrs;
    args >> first_s >> count_s;
    std::getline(args, attrs);
    auto count = parse_count(count_s);
    if (!count) return "error: " + cmd + ": bad count '" + count_s + "'";
    auto tmpl = parse_route(first_s + attrs);
    if (!tmpl) return "error: " + tmpl.error().message;
    if (cmd == "announce-range") {
      table.reserve(table.size() + *count);
    }
    for (uint64_t i = 0; i < *count; ++i) {
      auto p = nth_prefix(tmpl->prefix, i);
      if (!p) return "error: " + cmd + ": range runs past the end of the address space";
      if (cmd == "announce-range") {
        Route r = *tmpl;
        r.prefix = *p;
        table.insert_or_assign(*p, std::move(r));
      } else {
        table.erase(*p);
      }
    }
    changed();
    spdlog::debug("bgpspeak: {} of {} took {} us", cmd, *count,
                  std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count());
    return "ok " + cmd + " " + std::to_string(*count);
  }
  if (cmd == "withdraw") {
    auto p = Prefix::parse(rest, true);
    if (!p) return "error: withdraw: bad prefix '" + rest + "'";
    bool had = table.erase(*p) > 0;
    changed();
    return had ? "ok withdraw " + p->str() : "ok withdraw " + p->str() + " (was not announced)";
  }
  if (cmd == "withdraw-all") {
    size_t n = table.size();
    table.clear();
    changed();
    return "ok withdraw-all " + std::to_string(n);
  }
  if (cmd == "routes") return "ok " + std::to_string(table.size()) + " routes";
  if (cmd == "status" || cmd == "peers") return nlohmann::json(speaker_.peers()).dump();
  if (cmd == "advertised" || cmd == "received") {
    if (rest.empty()) return "error: " + cmd + " needs a peer name";
    if (cmd == "advertised") {
      auto r = speaker_.advertised(inst, rest);
      if (!r) return "error: " + r.error().message;
      return nlohmann::json(*r).dump();
    }
    auto r = speaker_.received(inst, rest);
    if (!r) return "error: " + r.error().message;
    return nlohmann::json(*r).dump();
  }
  if (cmd == "use") {
    for (const auto& i : speaker_.config().instances) {
      if (i.name == rest) {
        instance_ = rest;
        return "ok use " + rest;
      }
    }
    return "error: use: unknown instance '" + rest + "'";
  }
  if (cmd == "reload") {
    auto st = load();
    return st ? "ok reload" : "error: " + st.error().str();
  }
  if (cmd == "stop") {
    StopMode mode = rest == "withdraw" ? StopMode::withdraw : StopMode::graceful;
    stop_(mode);
    return "ok stop";
  }
  return "error: unknown command '" + cmd + "'";
}

}  // namespace netagent::bgp::speak
