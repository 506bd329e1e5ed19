// ManifestSource on a real inotify in a temporary directory: edits of every kind an operator (or
// an editor, git, or a ConfigMap volume) makes are applied within a second; bad edits keep the
// last good snapshot.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "netagent/source/manifest_source.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::source {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string service(const std::string& name, int port) {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
         "\n  namespace: demo\nspec:\n  clusterIP: 10.96.0.10\n  ports:\n  - port: " +
         std::to_string(port) + "\n";
}

// A Service with named ports.
std::string service_ports(const std::string& name, const std::vector<int>& ports) {
  std::string y = "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
                  "\n  namespace: demo\nspec:\n  clusterIP: 10.96.0.10\n  ports:\n";
  for (int p : ports)
    y += "  - {name: p" + std::to_string(p) + ", port: " + std::to_string(p) + "}\n";
  return y;
}

// A slow writer in place: opens (truncating), writes `first`, waits, writes `rest`, closes.
void slow_write(const fs::path& path, const std::string& first, const std::string& rest,
                std::chrono::milliseconds pause) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, first.data(), first.size()), ssize_t(first.size()));
  std::this_thread::sleep_for(pause);
  ASSERT_EQ(::write(fd, rest.data(), rest.size()), ssize_t(rest.size()));
  ::close(fd);
}

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

class WatchedTree : public ::testing::Test {
 protected:
  void TearDown() override {
    if (runner_.joinable()) {
      boost::asio::post(io_, [this] { source_->stop(); });
      guard_.reset();
      io_.stop();
      runner_.join();
    }
    source_.reset();
  }

  // Starts the source on root (first load happens in start()), then runs the io_context.
  void start(const fs::path& root, ManifestSource::Options options = {}) {
    source_ = std::make_unique<ManifestSource>(io_, root, std::move(options));
    source_->start(
        [this](std::shared_ptr<const k8s::Snapshot> s) {
          std::lock_guard lock(mu_);
          snapshots_.push_back(std::move(s));
          delivered_at_ = std::chrono::steady_clock::now();
        },
        [this](const std::vector<k8s::DecodeError>& errs) {
          std::lock_guard lock(mu_);
          error_reports_.push_back(errs);
          delivered_at_ = std::chrono::steady_clock::now();
        });
    runner_ = std::thread([this] { io_.run(); });
  }

  size_t snapshot_count() {
    std::lock_guard lock(mu_);
    return snapshots_.size();
  }
  size_t error_count() {
    std::lock_guard lock(mu_);
    return error_reports_.size();
  }
  std::shared_ptr<const k8s::Snapshot> latest() {
    std::lock_guard lock(mu_);
    return snapshots_.empty() ? nullptr : snapshots_.back();
  }

  // Runs change(), then waits for the next snapshot and checks it came within a second.
  std::shared_ptr<const k8s::Snapshot> apply(const std::function<void()>& change) {
    size_t before = snapshot_count();
    auto t0 = std::chrono::steady_clock::now();
    change();
    bool got = testing::wait_until([&] { return snapshot_count() > before; }, 3000ms, 5ms);
    EXPECT_TRUE(got) << "no new snapshot after the change";
    if (!got) return nullptr;
    std::lock_guard lock(mu_);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(delivered_at_ - t0);
    EXPECT_LT(took.count(), 1000) << "the change took " << took.count() << " ms to apply";
    return snapshots_.back();
  }

  static int port_of(const std::shared_ptr<const k8s::Snapshot>& s, const std::string& name) {
    if (!s) return -1;
    auto* svc = s->service("demo", name);
    return svc ? svc->ports[0].port : -1;
  }

  testing::TempDir dir_{"source-watch"};
  fs::path root_{dir_.path()};
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      io_.get_executor()};
  std::unique_ptr<ManifestSource> source_;
  std::thread runner_;
  std::mutex mu_;
  std::vector<std::shared_ptr<const k8s::Snapshot>> snapshots_;
  std::vector<std::vector<k8s::DecodeError>> error_reports_;
  std::chrono::steady_clock::time_point delivered_at_{};
};

TEST_F(WatchedTree, FirstLoadHappensInStart) {
  write(root_ / "web.yaml", service("web", 80));
  source_ = std::make_unique<ManifestSource>(io_, root_);
  std::shared_ptr<const k8s::Snapshot> got;
  source_->start([&](auto s) { got = s; }, [](auto&) {});
  ASSERT_TRUE(got);  // delivered before start() returned, without running the io_context
  EXPECT_EQ(port_of(got, "web"), 80);
  EXPECT_EQ(source_->stats().loads_ok, 1u);
  EXPECT_EQ(source_->describe(), "manifests " + root_.string());
  source_->stop();
}

TEST_F(WatchedTree, EditInPlace) {
  write(root_ / "web.yaml", service("web", 80));
  start(root_);
  ASSERT_EQ(snapshot_count(), 1u);
  auto s = apply([&] { write(root_ / "web.yaml", service("web", 81)); });
  EXPECT_EQ(port_of(s, "web"), 81);
  EXPECT_EQ(source_->stats().loads_ok, 2u);
}

TEST_F(WatchedTree, EditorRenameIntoPlace) {
  write(root_ / "apps/web.yaml", service("web", 80));
  start(root_);
  auto s = apply([&] {
    // What vim/emacs/kubectl edit do: write a temporary file, rename it over the original.
    write(root_ / "apps/.web.yaml.tmp", service("web", 82));
    fs::rename(root_ / "apps/.web.yaml.tmp", root_ / "apps/web.yaml");
  });
  EXPECT_EQ(port_of(s, "web"), 82);
}

TEST_F(WatchedTree, NewSubdirectoryIsWatched) {
  write(root_ / "web.yaml", service("web", 80));
  start(root_);
  auto s = apply([&] { write(root_ / "new/deeper/api.yaml", service("api", 8080)); });
  EXPECT_EQ(port_of(s, "api"), 8080);
  // The new directory now has its own watch: an edit inside it is seen.
  s = apply([&] { write(root_ / "new/deeper/api.yaml", service("api", 8081)); });
  EXPECT_EQ(port_of(s, "api"), 8081);
  EXPECT_GE(source_->manifest_stats().watch.watches, 3u);
}

TEST_F(WatchedTree, DeletedFileRemovesItsObjects) {
  write(root_ / "web.yaml", service("web", 80));
  write(root_ / "api/api.yaml", service("api", 8080));
  start(root_);
  auto s = apply([&] { fs::remove(root_ / "web.yaml"); });
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->service("demo", "web"));
  EXPECT_TRUE(s->service("demo", "api"));
  s = apply([&] { fs::remove_all(root_ / "api"); });
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->services.empty());
}

TEST_F(WatchedTree, ConfigMapVolumeSymlinkSwap) {
  // The layout kubelet gives a ConfigMap volume: files are symlinks through ..data, which points
  // at a timestamped directory; an update writes a new directory and renames a new ..data over.
  write(root_ / "..2024_01_01_00_00_00.000/web.yaml", service("web", 80));
  fs::create_directory_symlink("..2024_01_01_00_00_00.000", root_ / "..data");
  fs::create_symlink("..data/web.yaml", root_ / "web.yaml");
  start(root_);
  ASSERT_EQ(port_of(latest(), "web"), 80);  // read once, through the symlink
  auto s = apply([&] {
    write(root_ / "..2024_01_01_00_01_00.000/web.yaml", service("web", 83));
    fs::create_directory_symlink("..2024_01_01_00_01_00.000", root_ / "..data_tmp");
    fs::rename(root_ / "..data_tmp", root_ / "..data");
    fs::remove_all(root_ / "..2024_01_01_00_00_00.000");
  });
  EXPECT_EQ(port_of(s, "web"), 83);
}

TEST_F(WatchedTree, RootSymlinkSwapped) {
  write(root_ / "v1/web.yaml", service("web", 80));
  write(root_ / "v2/web.yaml", service("web", 84));
  fs::create_directory_symlink(root_ / "v1", root_ / "current");
  start(root_ / "current");
  auto s = apply([&] {
    fs::create_directory_symlink(root_ / "v2", root_ / "current.tmp");
    fs::rename(root_ / "current.tmp", root_ / "current");
  });
  EXPECT_EQ(port_of(s, "web"), 84);
  // Watches moved to the new tree.
  s = apply([&] { write(root_ / "v2/web.yaml", service("web", 85)); });
  EXPECT_EQ(port_of(s, "web"), 85);
}

TEST_F(WatchedTree, RootDirectoryReplaced) {
  write(root_ / "tree/web.yaml", service("web", 80));
  start(root_ / "tree");
  auto s = apply([&] {
    write(root_ / "tree.new/web.yaml", service("web", 86));
    fs::rename(root_ / "tree", root_ / "tree.old");
    fs::rename(root_ / "tree.new", root_ / "tree");
  });
  EXPECT_EQ(port_of(s, "web"), 86);
  s = apply([&] { write(root_ / "tree/web.yaml", service("web", 87)); });
  EXPECT_EQ(port_of(s, "web"), 87);
}

TEST_F(WatchedTree, BadEditKeepsTheLastGoodSnapshot) {
  write(root_ / "web.yaml", service("web", 80));
  write(root_ / "api.yaml", service("api", 8080));
  start(root_);
  auto good = latest();
  write(root_ / "api.yaml", service("api", 8081) + "---\n" + service("broken", 99999));
  ASSERT_TRUE(testing::wait_until([&] { return error_count() == 1; }, 3000ms, 5ms));
  {
    std::lock_guard lock(mu_);
    ASSERT_EQ(error_reports_[0].size(), 1u);
    const auto& e = error_reports_[0][0];
    EXPECT_EQ(e.source.file, (root_ / "api.yaml").string());
    EXPECT_EQ(e.source.document, 1);
    EXPECT_EQ(e.object, "Service demo/broken");
    EXPECT_EQ(e.field, "spec.ports[0].port");
  }
  EXPECT_EQ(snapshot_count(), 1u);  // nothing half-applied: api stays on 8080
  EXPECT_EQ(source_->current(), good);
  auto st = source_->stats();
  EXPECT_EQ(st.loads_failed, 1u);
  EXPECT_EQ(st.last_errors.size(), 1u);
  // Fixing the file delivers the whole new state.
  auto s = apply([&] { write(root_ / "api.yaml", service("api", 8081)); });
  EXPECT_EQ(port_of(s, "api"), 8081);
  EXPECT_TRUE(source_->stats().last_errors.empty());
}

TEST_F(WatchedTree, BadFirstLoadDeliversNothingUntilFixed) {
  write(root_ / "web.yaml", "kind: Service\nmetadata: {name: web\n");
  start(root_);
  EXPECT_EQ(snapshot_count(), 0u);
  EXPECT_EQ(error_count(), 1u);
  EXPECT_FALSE(source_->current());
  auto s = apply([&] { write(root_ / "web.yaml", service("web", 80)); });
  EXPECT_EQ(port_of(s, "web"), 80);
}

TEST_F(WatchedTree, RootThatAppearsLater) {
  start(root_ / "not-yet");
  EXPECT_EQ(error_count(), 1u);  // reported, and watched for through its parent
  {
    std::lock_guard lock(mu_);
    EXPECT_NE(error_reports_[0][0].message.find("cannot open manifest directory"),
              std::string::npos);
  }
  auto s = apply([&] { write(root_ / "not-yet/web.yaml", service("web", 89)); });
  EXPECT_EQ(port_of(s, "web"), 89);
  // And its contents are watched from then on.
  s = apply([&] { write(root_ / "not-yet/web.yaml", service("web", 90)); });
  EXPECT_EQ(port_of(s, "web"), 90);
}

TEST_F(WatchedTree, IrrelevantAndNoOpChangesDeliverNothing) {
  write(root_ / "web.yaml", service("web", 80));
  start(root_);
  write(root_ / "README.md", "notes");
  write(root_ / ".web.yaml.swp", "editor state");
  write(root_ / "web.yaml", service("web", 80));  // same bytes
  std::this_thread::sleep_for(700ms);             // past the debounce and the load
  EXPECT_EQ(snapshot_count(), 1u);
  EXPECT_EQ(error_count(), 0u);
  auto st = source_->manifest_stats();
  EXPECT_GE(st.loads_unchanged, 1u);
  EXPECT_GE(st.watch.events, 3u);
  // The change after that is still seen.
  auto s = apply([&] { write(root_ / "web.yaml", service("web", 88)); });
  EXPECT_EQ(port_of(s, "web"), 88);
}

TEST_F(WatchedTree, BurstOfEditsIsOneReload) {
  start(root_);
  auto s = apply([&] {
    for (int i = 0; i < 20; ++i)
      write(root_ / ("svc" + std::to_string(i) + ".yaml"),
            service("s" + std::to_string(i), 1000 + i));
  });
  ASSERT_TRUE(s);
  std::this_thread::sleep_for(400ms);
  // Twenty files written back to back land together (or in very few loads), never half-seen
  // as "file exists but empty" errors.
  EXPECT_EQ(error_count(), 0u);
  EXPECT_EQ(latest()->services.size(), 20u);
  EXPECT_LE(source_->stats().loads_ok, 4u);
}

// Every snapshot delivered so far, as the ports of demo/<name> ("" when absent).
std::vector<std::string> port_history(const std::vector<std::shared_ptr<const k8s::Snapshot>>& v,
                                      const std::string& name) {
  std::vector<std::string> out;
  for (const auto& s : v) {
    std::string ports;
    if (auto* svc = s->service("demo", name)) {
      for (const auto& p : svc->ports)
        ports += (ports.empty() ? "" : ",") + std::to_string(p.port);
    }
    out.push_back(ports);
  }
  return out;
}

TEST_F(WatchedTree, SlowInPlaceWriteIsNeverLoadedHalfDone) {
  write(root_ / "web.yaml", service_ports("web", {80}));
  start(root_);
  ASSERT_EQ(snapshot_count(), 1u);
  // The first chunk alone is a valid Service with fewer ports: loading it would drop 91 and 92.
  std::string first = service_ports("web", {90});
  std::string rest = "  - {name: p91, port: 91}\n  - {name: p92, port: 92}\n";
  std::string seen_pending;
  std::thread writer([&] { slow_write(root_ / "web.yaml", first, rest, 800ms); });
  std::this_thread::sleep_for(400ms);  // well past the settle time, with the file still open
  // A reload asked for meanwhile (SIGHUP, resync) does not read the half file either.
  boost::asio::post(io_, [this] { source_->reload(); });
  std::this_thread::sleep_for(100ms);
  seen_pending = source_->stats().pending;
  EXPECT_EQ(source_->manifest_stats().reloads_deferred, 1u);
  auto watch = source_->manifest_stats().watch;
  writer.join();
  auto closed = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::wait_until([&] { return snapshot_count() > 1; }, 3000ms, 5ms));
  std::this_thread::sleep_for(400ms);
  std::lock_guard lock(mu_);
  EXPECT_EQ(port_history(snapshots_, "web"), (std::vector<std::string>{"80", "90,91,92"}));
  EXPECT_NE(seen_pending.find("web.yaml"), std::string::npos) << seen_pending;
  EXPECT_TRUE(watch.pending);
  EXPECT_EQ(watch.writing.size(), 1u);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(delivered_at_ - closed);
  std::printf("slow write: closed -> snapshot in %lld ms\n", static_cast<long long>(took.count()));
  EXPECT_LT(took.count(), 1000);
}

TEST_F(WatchedTree, StagedCopyIntoANewDirectoryIsLoadedWhole) {
  // A copy into the tree that takes a while (a file every 120 ms, each complete): the files of a
  // burst land in one load, never a part of them.
  write(root_ / "web.yaml", service("web", 80));
  start(root_);
  constexpr int kFiles = 8;
  fs::create_directory(root_ / "staged");
  for (int i = 0; i < kFiles; ++i) {
    write(root_ / "staged" / ("s" + std::to_string(i) + ".yaml"),
          service("s" + std::to_string(i), 1000 + i));
    std::this_thread::sleep_for(120ms);
  }
  ASSERT_TRUE(testing::wait_until([&] { return snapshot_count() > 1; }, 6000ms, 5ms));
  std::this_thread::sleep_for(600ms);
  std::lock_guard lock(mu_);
  ASSERT_GE(snapshots_.size(), 2u);
  EXPECT_EQ(snapshots_[1]->services.size(), size_t(kFiles) + 1) << "a partial copy was loaded";
  EXPECT_EQ(snapshots_.size(), 2u);
}

TEST_F(WatchedTree, CpDashROfATreeIsLoadedWhole) {
  testing::TempDir src("source-copy");
  for (int d = 0; d < 5; ++d) {
    for (int i = 0; i < 40; ++i) {
      std::string name = "c" + std::to_string(d) + "-" + std::to_string(i);
      write(fs::path(src.path()) / ("d" + std::to_string(d)) / (name + ".yaml"),
            service(name, 2000 + i) + std::string(2000, '#') + "\n");
    }
  }
  write(root_ / "web.yaml", service("web", 80));
  start(root_);
  std::string cmd = "cp -r " + src.path() + " " + (root_ / "copied").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_TRUE(testing::wait_until([&] { return snapshot_count() > 1; }, 6000ms, 5ms));
  std::this_thread::sleep_for(600ms);
  std::lock_guard lock(mu_);
  EXPECT_EQ(snapshots_[1]->services.size(), 201u) << "a partial copy was loaded";
  EXPECT_EQ(error_reports_.size(), 0u);
}

TEST_F(WatchedTree, AWriterThatStaysIdleIsNotWaitedForever) {
  write(root_ / "web.yaml", service("web", 80));
  ManifestSource::Options options;
  options.watch.max_delay = 1000ms;
  start(root_, options);
  int fd = ::open((root_ / "web.yaml").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::string text = service("web", 81);
  ASSERT_EQ(::write(fd, text.data(), text.size()), ssize_t(text.size()));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::wait_until([&] { return snapshot_count() > 1; }, 4000ms, 5ms));
  auto took = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  EXPECT_GE(took, 900ms);
  EXPECT_EQ(port_of(latest(), "web"), 81);
  EXPECT_EQ(source_->manifest_stats().watch.stale_writers, 1u);
}

TEST_F(WatchedTree, RenameToSnapshotLatency) {
  write(root_ / "web.yaml", service("web", 80));
  start(root_);
  std::vector<long long> ms;
  for (int i = 0; i < 10; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    size_t before = snapshot_count();
    write(root_ / ".web.yaml.tmp", service("web", 100 + i));
    fs::rename(root_ / ".web.yaml.tmp", root_ / "web.yaml");
    ASSERT_TRUE(testing::wait_until([&] { return snapshot_count() > before; }, 3000ms, 1ms));
    std::lock_guard lock(mu_);
    ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(delivered_at_ - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("rename -> snapshot: min %lld ms, median %lld ms, max %lld ms\n", ms.front(), ms[5],
              ms.back());
  EXPECT_GE(ms.front(), 240);  // the settle time
  EXPECT_LT(ms.back(), 1000);
}

TEST_F(WatchedTree, FifoInTheTreeIsReportedAndDoesNotBlockTheWatcher) {
  write(root_ / "web.yaml", service("web", 80));
  start(root_);
  // A FIFO under a name that is not a manifest's: a warning; the tree still loads.
  ASSERT_EQ(::mkfifo((root_ / "pipe").c_str(), 0600), 0);
  ASSERT_TRUE(testing::wait_until([&] { return source_->stats().warnings.size() == 1; }, 3000ms));
  EXPECT_EQ(source_->stats().warnings[0], (root_ / "pipe").string() + ": a FIFO; not read");
  auto s = apply([&] { write(root_ / "web.yaml", service("web", 81)); });
  EXPECT_EQ(port_of(s, "web"), 81);
  // Under a manifest name: an error of the load (the last good snapshot stays).
  size_t errors = error_count();
  ASSERT_EQ(::mkfifo((root_ / "pipe.yaml").c_str(), 0600), 0);
  ASSERT_TRUE(testing::wait_until([&] { return error_count() > errors; }, 3000ms));
  {
    std::lock_guard lock(mu_);
    ASSERT_EQ(error_reports_.back().size(), 1u);
    EXPECT_EQ(error_reports_.back()[0].str(),
              (root_ / "pipe.yaml").string() + ": is a FIFO, not a regular file: not read");
  }
  // Removing them clears the reports and the tree loads again.
  s = apply([&] { fs::remove(root_ / "pipe.yaml"); });
  EXPECT_EQ(port_of(s, "web"), 81);
  fs::remove(root_ / "pipe");
  ASSERT_TRUE(testing::wait_until([&] { return source_->stats().warnings.empty(); }, 3000ms));
  EXPECT_TRUE(source_->stats().last_errors.empty());
}

// A directory read through a kustomization: editing the `Kustomization` file (no .yaml name) or
// a generator's input file in place reloads the tree.
TEST_F(WatchedTree, KustomizationAndGeneratorInputsAreWatched) {
  write(root_ / "Kustomization",
        "resources: [web.yaml]\nconfigMapGenerator:\n- name: cfg\n  files: [app.conf]\n"
        "  options: {disableNameSuffixHash: true}\n");
  write(root_ / "web.yaml", service("web", 80));
  write(root_ / "app.conf", "one");
  start(root_);
  auto s = apply([&] { write(root_ / "app.conf", "two"); });
  ASSERT_TRUE(s);
  ASSERT_EQ(s->config_maps.size(), 1u);
  EXPECT_EQ(s->config_maps[0].meta.name, "cfg");
  EXPECT_EQ(s->config_maps[0].data.at("app.conf"), "two");
  s = apply([&] { write(root_ / "Kustomization", "resources: [web.yaml]\nnamespace: other\n"); });
  ASSERT_TRUE(s);
  ASSERT_EQ(s->services.size(), 1u);
  EXPECT_EQ(s->services[0].meta.ns, "other");
  EXPECT_TRUE(s->config_maps.empty());
}

}  // namespace
}  // namespace netagent::source
