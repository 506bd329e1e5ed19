// netctl status: the agent's health at a glance (GET /v1/status).
#include <ostream>

#include "netagent/netctl/command.hpp"

namespace netctl = netagent::netctl;
using nlohmann::json;

namespace {

std::string ago(const json& seconds) {
  if (!seconds.is_number()) return "never";
  return netctl::format_duration(seconds.get<double>()) + " ago";
}

void print_status(const json& s, std::ostream& out) {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("Agent", "netagent " + netctl::text(s.value("version", json())) + ", pid " +
                                 netctl::text(s.value("pid", json())) + ", up " +
                                 netctl::format_duration(s.value("uptime_seconds", 0.0)));
  const json node = s.value("node", json::object());
  std::string node_line = netctl::text(node.value("name", json()));
  if (node.value("found", false)) {
    std::string addrs;
    for (const auto& a : node.value("addresses", json::array())) {
      addrs += (addrs.empty() ? "" : ", ") + netctl::text(a.value("address", json()));
    }
    node_line += addrs.empty() ? "" : " (" + addrs + ")";
  } else {
    node_line += " (no Node manifest with this name: addresses and labels unknown)";
  }
  rows.emplace_back("Node", node_line);

  const json cfg = s.value("config", json::object());
  rows.emplace_back("Devices", netctl::text(cfg.value("devices", json())));
  std::string bpf_root = netctl::text(cfg.value("bpf_root", json()));
  const json lock = s.value("bpf_root_lock", json::object());
  if (lock.contains("held")) {
    bpf_root += lock.value("held", false) ? " (locked by this agent)" : " (NOT locked)";
  }
  rows.emplace_back("BPF root", bpf_root);
  rows.emplace_back("Cgroup", netctl::text(cfg.value("cgroup", json())));

  const json src = s.value("source", json::object());
  std::string src_line = src.value("state", "") == "none"
                             ? "none (" + netctl::text(src.value("message", json())) + ")"
                             : netctl::text(src.value("description", json())) + ": " +
                                   netctl::text(src.value("state", json()));
  if (src.contains("loads_ok")) {
    src_line += " (" + netctl::text(src["loads_ok"]) + " loads, " +
                netctl::text(src.value("loads_failed", json())) + " rejected; last good " +
                ago(src.value("last_ok_seconds_ago", json())) + ")";
  }
  std::string errors;
  if (src.value("stale", false)) {
    errors += "\nstale since " + netctl::text(src.value("stale_since", json())) + ": " +
              netctl::text(src.value("stale_reason", json()));
  }
  // The API source's kinds that are not synced (all synced: one line with the count).
  size_t synced = 0;
  for (const auto& p : src.value("parts", json::array())) {
    const std::string state = p.value("state", "");
    if (state == "synced") {
      ++synced;
      continue;
    }
    errors += "\n" + p.value("name", "") + ": " + state;
    if (!p.value("detail", "").empty()) errors += " (" + p.value("detail", "") + ")";
  }
  if (synced) errors += "\n" + std::to_string(synced) + " kinds synced";
  if (src.contains("pending") && src["pending"].is_string()) {
    errors += "\npending: " + src["pending"].get<std::string>();
  }
  for (const auto& w : src.value("warnings", json::array())) {
    errors += "\nwarning: " + netctl::text(w);
  }
  const json shown = src.value("last_errors", json::array());
  for (const auto& e : shown) {
    errors += "\n" + netctl::text(e);
  }
  if (src.contains("errors_total") && src["errors_total"].is_number_unsigned() &&
      src["errors_total"].get<size_t>() > shown.size()) {
    errors += "\n... and " + std::to_string(src["errors_total"].get<size_t>() - shown.size()) +
              " more errors";
  }
  rows.emplace_back("Source", src_line + errors);

  const json snap = s.value("snapshot", json());
  if (snap.is_object()) {
    rows.emplace_back("Desired state",
                      netctl::text(snap.value("services", json())) + " services, " +
                          netctl::text(snap.value("endpoint_slices", json())) +
                          " endpoint slices, " + netctl::text(snap.value("pods", json())) +
                          " pods, " + netctl::text(snap.value("nodes", json())) + " nodes, " +
                          netctl::text(snap.value("objects", json())) +
                          " other objects (snapshot " +
                          netctl::text(snap.value("generation", json())) + ", " +
                          ago(snap.value("received_seconds_ago", json())) + ")");
  } else {
    rows.emplace_back("Desired state", "none yet");
  }

  // The drift check: the kernel's maps and attachments against what the parts programmed.
  const json dc = s.value("datapath_check", json());
  if (dc.is_object()) {
    const auto every = dc.value("interval_seconds", 0);
    std::string line = every > 0 ? "every " + netctl::format_duration(every) : "periodic check off";
    const json last = dc.value("last", json());
    if (last.is_object()) {
      line += "; last " + ago(last.value("seconds_ago", json())) + " (" +
              netctl::text(last.value("trigger", json())) +
              "): " + netctl::text(last.value("result", json())) + ", " +
              netctl::text(last.value("entries_checked", json())) + " entries checked";
      for (const auto& p : last.value("parts", json::array())) {
        const std::string name = netctl::text(p.value("name", json()));
        if (p.contains("error")) line += "\n" + name + ": " + netctl::text(p["error"]);
        const json maps = p.value("maps", json::object());
        for (const auto& [map, d] : maps.items()) {
          line += "\n" + name + " " + map + ": repaired " +
                  netctl::text(d.value("missing", json())) + " missing, " +
                  netctl::text(d.value("extra", json())) + " extra, " +
                  netctl::text(d.value("changed", json())) + " changed";
        }
        for (const auto& a : p.value("attachments", json::array()))
          line += "\n" + name + ": restored " + netctl::text(a);
      }
    } else {
      line += "; not run yet";
    }
    line += "\n(" + netctl::text(dc.value("repaired_total", json())) +
            " entries and attachments repaired since start)";
    rows.emplace_back("Drift check", line);
  }
  // "ok (fds 1048576; API 1/128, metrics 0/64 connections, 0 refused)"
  const json lim = s.value("limits", json());
  if (lim.is_object()) {
    std::string line = netctl::text(lim.value("state", json())) + " (";
    if (lim.contains("fd_limit") && !lim["fd_limit"].is_null()) {
      line += "fd limit " + netctl::text(lim["fd_limit"]) + "; ";
    }
    uint64_t refused = 0;
    std::string sep;
    const json listeners = lim.value("listeners", json::object());
    for (const auto& [name, l] : listeners.items()) {
      line += sep + (name == "api" ? std::string("API") : name) + " " +
              netctl::text(l.value("connections", json())) + "/" +
              netctl::text(l.value("max_connections", json()));
      refused += l.value("rejected", uint64_t(0));
      sep = ", ";
    }
    rows.emplace_back("Connections",
                      line + " connections, " + std::to_string(refused) + " refused at the cap)");
  }

  size_t w = 0;
  for (const auto& [k, v] : rows)
    w = std::max(w, k.size());
  for (const auto& [k, v] : rows) {
    bool first = true;
    std::string rest = v;
    size_t pos;
    do {
      pos = rest.find('\n');
      std::string line = rest.substr(0, pos);
      std::string head = first ? k + ":" : "";
      out << head << std::string(w + 3 - head.size(), ' ') << line << "\n";
      first = false;
      if (pos != std::string::npos) rest = rest.substr(pos + 1);
    } while (pos != std::string::npos);
  }

  const json recs = s.value("reconcilers", json::array());
  out << "\nReconcilers:\n";
  if (recs.empty()) {
    out << "  (none registered)\n";
    return;
  }
  out << netctl::render_table(recs, {{"NAME", "name"},
                                     {"STATE", "state"},
                                     {"APPLIES", "applies"},
                                     {"ERRORS", "errors"},
                                     {"LAST APPLY", "last_duration_seconds", netctl::duration()},
                                     {"READS", "reads", netctl::join(", ")},
                                     {"LAST ERROR", "last_error"}});

  // The store: what each part published (parts talk only through it), and who reads it.
  json topics = s.value("store", json::object()).value("topics", json::array());
  for (auto& t : topics) {
    json readers = json::array();
    for (const auto& r : recs) {
      for (const auto& in : r.value("reads", json::array())) {
        if (in == t.value("topic", json())) readers.push_back(r.value("name", json()));
      }
    }
    t["read_by"] = std::move(readers);
  }
  out << "\nStore:\n";
  if (topics.empty()) {
    out << "  (nothing published yet)\n";
    return;
  }
  out << netctl::render_table(topics, {{"TOPIC", "topic"},
                                       {"PUBLISHER", "publisher"},
                                       {"GENERATION", "generation"},
                                       {"PUBLISHED", "published_at"},
                                       {"READ BY", "read_by", netctl::join(", ")}});
}

}  // namespace

NETCTL_COMMANDS(status) {
  commands.get("status", "Agent health: node, source, desired state and reconcilers", "/v1/status",
               {.custom = print_status});
}
