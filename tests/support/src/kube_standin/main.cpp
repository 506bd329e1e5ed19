// netagent-kube-standin: the stand-in Kubernetes API server of the tests. It is NOT Kubernetes:
// an in-memory store behind the kube-apiserver's REST protocol, enough for kubectl, the Python
// client and netagent's kubeapi client (docs/kubernetes-api.md).
//   netagent-kube-standin --listen 127.0.0.1:0 [--token T] [--no-watch-list]
//                         [--bookmark-interval S] [--history N] [--snapshot FILE]
// Prints "listening on ADDR:PORT" as its first line. State is in memory only, unless
// --snapshot FILE: loaded at start, written on SIGTERM/SIGINT (a SIGKILL loses what changed).
#include <sys/prctl.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <iostream>

#include "standin.hpp"

namespace asio = boost::asio;
using netagent::api::HttpServer;

int main(int argc, char** argv) {
  CLI::App app(
      "netagent-kube-standin: a stand-in Kubernetes API server for tests (not Kubernetes)");
  std::string listen = "127.0.0.1:0";
  double bookmark = 1;
  netagent::standin::Options opt;
  bool no_watch_list = false;
  app.add_option("--listen", listen, "ADDR:PORT to listen on (port 0: the kernel chooses)");
  app.add_option("--token", opt.token,
                 "Bearer token every request needs (except /healthz, "
                 "/readyz, /livez, /version)");
  app.add_flag("--no-watch-list", no_watch_list,
               "Behave as a server without the WatchList feature (sendInitialEvents: 422)");
  app.add_flag("--watch-list-ignored", opt.watch_list_ignored,
               "With --no-watch-list: ignore sendInitialEvents and resourceVersionMatch on a "
               "watch (a server older than them) instead of answering 422");
  app.add_option("--bookmark-interval", bookmark, "Seconds between BOOKMARK events (real: ~60)");
  app.add_option("--history", opt.history, "Events kept for resuming watches (older: 410)");
  app.add_option("--snapshot", opt.snapshot,
                 "State file: loaded at start when it exists, written on SIGTERM/SIGINT (without "
                 "it the state is in memory only)");
  bool exit_with_parent = false;
  app.add_flag("--exit-with-parent", exit_with_parent,
               "Die (SIGKILL) when the process that started it dies: a test killed by its "
               "timeout leaves no server behind");
  CLI11_PARSE(app, argc, argv);
  if (exit_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() == 1) return 1;  // the parent is already gone
  }
  opt.watch_list = !no_watch_list;
  opt.bookmark_interval = std::chrono::milliseconds(static_cast<int64_t>(bookmark * 1000));
  if (opt.history == 0) opt.history = 1;

  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "--listen: ADDR:PORT expected\n";
    return 2;
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io);
  try {
    asio::ip::tcp::endpoint ep(asio::ip::make_address(host),
                               static_cast<uint16_t>(std::stoi(listen.substr(colon + 1))));
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen();
  } catch (const std::exception& e) {
    std::cerr << "netagent-kube-standin: listen on " << listen << ": " << e.what() << "\n";
    return 1;
  }
  auto bound = acceptor.local_endpoint();

  netagent::standin::Server server(io, opt);
  HttpServer::Options ho;
  ho.name = "kube-standin";
  ho.max_body = 64 << 20;  // lists and bodies of tens of thousands of objects
  ho.max_header = 64 << 10;
  ho.request_timeout = std::chrono::seconds(60);
  ho.idle_timeout = std::chrono::seconds(300);
  ho.max_queued_chunks = 1 << 16;
  ho.max_connections = 1024;  // a runaway test client cannot take every descriptor
  ho.warn = [](const std::string& line) { std::cerr << "netagent-kube-standin: " << line << "\n"; };
  ho.body_too_large = [] {
    netagent::api::HttpResponse res{boost::beast::http::status::payload_too_large, 11};
    res.set(boost::beast::http::field::content_type, "application/json");
    res.body() = nlohmann::json{
        {"kind", "Status"},
        {"apiVersion", "v1"},
        {"metadata", nlohmann::json::object()},
        {"status", "Failure"},
        {"message", "the request is too large (over 64 MiB)"},
        {"reason", "RequestEntityTooLarge"},
        {"code",
         413}}.dump();
    res.prepare_payload();
    return res;
  };
  HttpServer http(io, ho, [&server](const auto& req, const auto& open_stream) {
    return server.handle(req, open_stream);
  });
  http.serve(std::move(acceptor));

  asio::signal_set signals(io, SIGTERM, SIGINT);
  int status = 0;
  signals.async_wait([&](const boost::system::error_code&, int) {
    http.stop();
    try {
      server.save();
    } catch (const std::exception& e) {
      std::cerr << "netagent-kube-standin: " << e.what() << "\n";
      status = 1;
    }
    io.stop();
  });
  std::string addr = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                             : bound.address().to_string();
  std::printf("listening on %s:%u\n", addr.c_str(), bound.port());
  std::fflush(stdout);
  io.run();
  return status;
}
