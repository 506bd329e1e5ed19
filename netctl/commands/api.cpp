// netctl api: any API endpoint as raw JSON, for debugging and for scripts.
#include <ostream>

#include "netagent/netctl/command.hpp"

namespace netctl = netagent::netctl;

NETCTL_COMMANDS(api) {
  static std::string path;
  static std::string method = "GET";
  static std::string body;
  CLI::App* app = commands.add(
      "api", "Call an API endpoint and print its JSON (e.g. netctl api /v1/routes)",
      [](const netctl::Context& ctx) {
        nlohmann::json parsed;
        if (!body.empty()) {
          try {
            parsed = nlohmann::json::parse(body);
          } catch (const nlohmann::json::exception& e) {
            *ctx.err << "netctl: --data is not JSON: " << e.what() << "\n";
            return netctl::kExitUsage;
          }
        }
        auto r = ctx.client().request(method, path, body.empty() ? nullptr : &parsed);
        if (!r) return ctx.fail(r.error());
        *ctx.out << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return r->status >= 200 && r->status < 300 ? netctl::kExitOk : netctl::kExitFailed;
      });
  app->add_option("path", path, "API path, e.g. /v1/status")->required();
  app->add_option("-X,--method", method, "HTTP method")
      ->check(CLI::IsMember({"GET", "POST", "PUT", "DELETE"}))
      ->capture_default_str();
  app->add_option("-d,--data", body, "JSON request body");
}
