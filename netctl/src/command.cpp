#include "netagent/netctl/command.hpp"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "netagent/common/url.hpp"

namespace netagent::netctl {

namespace {

std::vector<std::string> words(const std::string& path) {
  std::istringstream in(path);
  std::vector<std::string> out;
  std::string w;
  while (in >> w)
    out.push_back(w);
  return out;
}

// {name} placeholders of an API target, in order.
std::vector<std::string> placeholders(const std::string& pattern) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = pattern.find('{', pos)) != std::string::npos) {
    size_t end = pattern.find('}', pos);
    if (end == std::string::npos) break;
    out.push_back(pattern.substr(pos + 1, end - pos - 1));
    pos = end + 1;
  }
  return out;
}

std::string pretty(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void Context::print(const nlohmann::json& body,
                    const std::function<void(const nlohmann::json&, std::ostream&)>& human) const {
  if (json()) {
    *out << pretty(body) << "\n";
  } else {
    human(body, *out);
  }
}

int Context::fail(const Error& e) const {
  *err << "netctl: " << e.message << "\n";
  return e.errnum == 0 ? kExitFailed : kExitUnreachable;
}

Command& Command::query(const std::string& flag, const std::string& key, const std::string& help) {
  app_->add_option(flag, query_values[key], help);
  return *this;
}

Command& Command::query_flag(const std::string& flag, const std::string& key,
                             const std::string& help) {
  app_->add_flag(flag, query_flags[key], help);
  return *this;
}

std::string Command::target(const std::string& pattern) const {
  std::string t = pattern;
  for (const auto& [name, value] : params) {
    std::string ph = "{" + name + "}";
    if (auto pos = t.find(ph); pos != std::string::npos)
      t.replace(pos, ph.size(), url_encode(value));
  }
  std::string q;
  for (const auto& [k, v] : query_values) {
    if (!v.empty()) q += (q.empty() ? "?" : "&") + url_encode(k) + "=" + url_encode(v);
  }
  for (const auto& [k, on] : query_flags) {
    if (on) q += (q.empty() ? "?" : "&") + url_encode(k) + "=true";
  }
  return t + q;
}

CLI::App* CommandSet::node(const std::string& path, const std::string& help) {
  auto ws = words(path);
  CLI::App* at = &root_;
  for (size_t i = 0; i < ws.size(); ++i) {
    CLI::App* next = nullptr;
    for (auto* sub : at->get_subcommands([](CLI::App*) { return true; })) {
      if (sub->get_name() == ws[i]) next = sub;
    }
    if (!next) {
      bool leaf = i + 1 == ws.size();
      next = at->add_subcommand(ws[i], leaf ? help : "");
      if (!leaf) next->require_subcommand(1);
    } else if (i + 1 == ws.size()) {
      next->description(help);
    }
    if (i + 1 < ws.size() && next->get_require_subcommand_min() == 0) {
      next->require_subcommand(1);
    }
    at = next;
  }
  return at;
}

CLI::App* CommandSet::add(const std::string& path, const std::string& help, Run run) {
  CLI::App* app = node(path, help);
  app->callback([this, run = std::move(run)] { selected_ = run; });
  return app;
}

Command& CommandSet::get(const std::string& path, const std::string& help,
                         const std::string& api_target, View view) {
  Command& cmd = commands_.emplace_back(nullptr);
  CLI::App* app = add(path, help, [&cmd, api_target, view](const Context& ctx) {
    auto body = ctx.client().get(cmd.target(api_target));
    if (!body) return ctx.fail(body.error());
    ctx.print(*body, [&](const nlohmann::json& b, std::ostream& out) {
      if (view.custom) return view.custom(b, out);
      if (view.columns.empty()) {
        out << render_fields(b, view.fields);
        return;
      }
      nlohmann::json rows = view.rows.empty() ? b : select(b, view.rows);
      if ((!rows.is_array() || rows.empty()) && !view.empty.empty()) {
        out << view.empty << "\n";
        return;
      }
      out << render_table(rows, view.columns);
    });
    return kExitOk;
  });
  cmd = Command(app);
  for (const auto& name : placeholders(api_target)) {
    app->add_option(name, cmd.params[name], name)->required();
  }
  return cmd;
}

Command& CommandSet::stream(const std::string& path, const std::string& help,
                            const std::string& api_target,
                            std::function<std::string(const nlohmann::json&)> human) {
  Command& cmd = commands_.emplace_back(nullptr);
  CLI::App* app = add(path, help, [&cmd, api_target, human](const Context& ctx) {
    auto st = ctx.client().stream(cmd.target(api_target), [&](const nlohmann::json& line) {
      if (ctx.json()) {
        *ctx.out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      } else {
        *ctx.out << human(line) << "\n";
      }
      ctx.out->flush();
      return bool(*ctx.out);  // stop when the reader of our output went away
    });
    if (!st) return ctx.fail(st.error());
    return kExitOk;
  });
  cmd = Command(app);
  for (const auto& name : placeholders(api_target)) {
    app->add_option(name, cmd.params[name], name)->required();
  }
  return cmd;
}

Registrar::Registrar(const char* name, Registration fn) {
  registrations().emplace_back(name, fn);
}

std::vector<std::pair<std::string, Registration>>& registrations() {
  static std::vector<std::pair<std::string, Registration>> all;
  return all;
}

int run_netctl(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Context ctx;
  ctx.out = &out;
  ctx.err = &err;
  CLI::App app{"netctl: inspect and debug the netagent running on this node"};
  app.name("netctl");
  app.set_version_flag("--version", std::string("netctl ") + NETAGENT_VERSION);
  // Global options may come after the command word (`netctl status -o json`).
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--socket", ctx.socket, "Agent API socket")
      ->envname("NETCTL_SOCKET")
      ->capture_default_str();
  std::string output = "table";
  app.add_option("-o,--output", output, "Output format: table (for people) or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  double timeout_s = 30;
  app.add_option("--timeout", timeout_s, "Seconds to wait for the agent's answer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  CommandSet commands(app, ctx);
  auto regs = registrations();
  std::sort(regs.begin(), regs.end());
  for (const auto& [name, fn] : regs)
    fn(commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e, out, err);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  ctx.output = output == "json" ? Output::Json : Output::Table;
  ctx.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  if (!commands.selected()) {
    err << app.help();
    return kExitUsage;
  }
  return commands.selected()(ctx);
}

}  // namespace netagent::netctl
