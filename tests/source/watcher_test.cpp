// ManifestSource on a real inotify in a temporary directory: edits of every kind an operator (or
// an editor, git, or a ConfigMap volume) makes are applied within a second; bad edits keep the
// last good snapshot.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

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
  void start(const fs::path& root) {
    source_ = std::make_unique<ManifestSource>(io_, root);
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

}  // namespace
}  // namespace netagent::source
