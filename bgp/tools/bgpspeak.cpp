// bgpspeak: runs the netagent BGP Speaker from a YAML file and takes live route changes on
// stdin or a unix control socket (see speak_control.hpp for the commands). SIGHUP re-reads the
// file; SIGTERM/SIGINT end the sessions (gracefully by default: graceful-restart peers keep our
// routes) and exit. Until the agent embeds the library, interop tests and benchmarks use this.
//
//   bgpspeak -c lab.yaml --control /run/bgpspeak.sock
//   bgpspeak --control /run/bgpspeak.sock --send "announce 10.25.11.100/32 community 64512:100"
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <iostream>

#include "speak_control.hpp"

namespace asio = boost::asio;
using netagent::bgp::Speaker;
using netagent::bgp::SpeakerOptions;
using netagent::bgp::StopMode;
using netagent::bgp::speak::SpeakControl;

namespace {

// Reads command lines from a stream (stdin or one control connection) and writes the answers.
template <typename Stream>
class LineChannel : public std::enable_shared_from_this<LineChannel<Stream>> {
 public:
  using Writer = std::function<void(Stream&, const std::string&)>;
  LineChannel(Stream stream, SpeakControl& control, Writer write_out)
      : stream_(std::move(stream)), control_(control), write_out_(std::move(write_out)) {}

  void start() { read(); }
  Stream& stream() { return stream_; }

 private:
  void read() {
    asio::async_read_until(stream_, buf_, '\n',
                           [self = this->shared_from_this()](boost::system::error_code ec, size_t) {
                             if (ec) return;  // EOF or closed: stop reading
                             std::istream is(&self->buf_);
                             std::string line;
                             std::getline(is, line);
                             if (!line.empty() && line.back() == '\r') line.pop_back();
                             if (!line.empty() && line[0] != '#') {
                               self->write_out_(self->stream_, self->control_.execute(line) + "\n");
                             }
                             self->read();
                           });
  }

  Stream stream_;
  asio::streambuf buf_;
  SpeakControl& control_;
  Writer write_out_;
};

using UnixSocket = asio::local::stream_protocol::socket;

void serve_control(asio::local::stream_protocol::acceptor& acceptor, SpeakControl& control) {
  acceptor.async_accept([&acceptor, &control](boost::system::error_code ec, UnixSocket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      // Answers are small and written synchronously: commands are handled one at a time.
      auto ch = std::make_shared<LineChannel<UnixSocket>>(
          std::move(socket), control, [](UnixSocket& sock, const std::string& answer) {
            boost::system::error_code wec;
            asio::write(sock, asio::buffer(answer), wec);
          });
      ch->start();
    }
    serve_control(acceptor, control);
  });
}

// Client mode: sends one command to a running bgpspeak and prints the answer.
int send_command(const std::string& path, const std::string& command) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    std::cerr << "bgpspeak: control socket path too long\n";
    return 2;
  }
  std::copy(path.begin(), path.end(), sa.sun_path);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    std::perror(("bgpspeak: connect " + path).c_str());
    return 2;
  }
  std::string line = command + "\n";
  if (write(fd, line.data(), line.size()) != ssize_t(line.size())) {
    std::perror("bgpspeak: write");
    return 2;
  }
  std::string answer;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n')
    answer += c;
  close(fd);
  std::cout << answer << "\n";
  return answer.rfind("error", 0) == 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bgpspeak: the netagent BGP speaker, standalone"};
  std::string config, control_path, send, log_level = "info", exit_mode = "graceful";
  bool fresh = false, use_stdin = false;
  app.add_option("-c,--config", config, "YAML file with instances, peers and routes");
  app.add_option("--control", control_path, "unix socket for control commands");
  app.add_option("--send", send, "send one command to a running bgpspeak (--control) and exit");
  app.add_flag("--stdin", use_stdin,
               "read control commands from stdin (default without --control)");
  app.add_flag("--fresh", fresh,
               "do not set the graceful-restart Restart State bit (first start, not a restart)");
  app.add_option("--exit-mode", exit_mode, "how SIGTERM ends sessions: graceful or withdraw")
      ->check(CLI::IsMember({"graceful", "withdraw"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  CLI11_PARSE(app, argc, argv);

  if (!send.empty()) {
    if (control_path.empty()) {
      std::cerr << "bgpspeak: --send needs --control\n";
      return 2;
    }
    return send_command(control_path, send);
  }
  if (config.empty()) {
    std::cerr << "bgpspeak: --config is required\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_default_logger(spdlog::default_logger());

  asio::io_context io;
  Speaker speaker(io, SpeakerOptions{!fresh, {}});
  bool stopping = false;
  auto stop = [&](StopMode mode) {
    if (stopping) return;
    stopping = true;
    spdlog::info("bgpspeak: stopping ({})", mode == StopMode::graceful ? "graceful" : "withdraw");
    speaker.stop(mode, [&io] { io.stop(); });
  };
  SpeakControl control(io, speaker, config, stop);
  if (auto st = control.load(); !st) {
    spdlog::error("bgpspeak: {}", st.error().str());
    return 1;
  }

  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec,
                                                                      int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      auto st = control.load();
      if (st) {
        spdlog::info("bgpspeak: reloaded {}", config);
      } else {
        spdlog::error("bgpspeak: reload kept the previous configuration: {}", st.error().str());
      }
      signals.async_wait(on_signal);
      return;
    }
    stop(exit_mode == "withdraw" ? StopMode::withdraw : StopMode::graceful);
  };
  signals.async_wait(on_signal);

  std::optional<asio::local::stream_protocol::acceptor> acceptor;
  if (!control_path.empty()) {
    ::unlink(control_path.c_str());
    acceptor.emplace(io, asio::local::stream_protocol::endpoint(control_path));
    serve_control(*acceptor, control);
  }
  if (control_path.empty() || use_stdin) {
    auto ch = std::make_shared<LineChannel<asio::posix::stream_descriptor>>(
        asio::posix::stream_descriptor(io, ::dup(STDIN_FILENO)), control,
        [](asio::posix::stream_descriptor&, const std::string& answer) {
          std::fwrite(answer.data(), 1, answer.size(), stdout);
          std::fflush(stdout);
        });
    ch->start();
  }
  spdlog::info("bgpspeak: running with {}", config);
  io.run();
  if (!control_path.empty()) ::unlink(control_path.c_str());
  return 0;
}
