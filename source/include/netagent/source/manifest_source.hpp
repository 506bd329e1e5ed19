#pragma once
// The agent's embedded source of desired state: a directory tree of Kubernetes manifests (a GitOps
// checkout, or a ConfigMap volume), loaded whole into a k8s::Snapshot and watched with inotify so
// that an edit is applied within a second.
//
// Every load is all-or-nothing. A tree with any bad file (unreadable, not YAML, an undefined
// variable, a field that does not validate, a duplicate object) delivers no snapshot: every error
// goes to the ErrorFn and to the log, and the consumers keep the last good state. A reload whose
// files are byte-for-byte those of the previous load delivers nothing (a `touch`, an editor's swap
// file).
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "netagent/k8s/source.hpp"
#include "netagent/source/manifest_loader.hpp"
#include "netagent/source/tree_watcher.hpp"

namespace netagent::source {

struct ManifestSourceStats {
  k8s::SourceStats source;
  LoadStats last_load;            // of the latest attempt
  uint64_t loads_unchanged = 0;   // reloads that found nothing changed
  uint64_t reloads_deferred = 0;  // reload() calls left to the watcher: files being written
  WatchStats watch;
};

class ManifestSource : public k8s::Source {
 public:
  struct Options {
    ManifestOptions manifests;
    WatchOptions watch;
    bool watch_enabled = true;  // false: load once in start(), reload only on reload()
  };

  ManifestSource(boost::asio::io_context& io, std::filesystem::path root, Options options);
  ManifestSource(boost::asio::io_context& io, std::filesystem::path root)
      : ManifestSource(io, std::move(root), Options{}) {}
  ~ManifestSource() override;

  // Starts watching, then loads once and delivers (snapshot or errors) before returning.
  void start(SnapshotFn on_snapshot, ErrorFn on_error) override;
  void stop() override;
  k8s::SourceStats stats() const override;
  std::string describe() const override;

  // Loads again now, on the calling thread (use from the io_context, e.g. on SIGHUP). While the
  // watcher sees files being written, does nothing: the watcher loads the tree when they close.
  void reload();
  ManifestSourceStats manifest_stats() const;
  // The latest snapshot delivered (null before the first good load).
  std::shared_ptr<const k8s::Snapshot> current() const;

 private:
  void apply(TreeLoad load);

  std::filesystem::path root_;
  Options options_;
  ManifestLoader loader_;
  TreeWatcher watcher_;
  SnapshotFn on_snapshot_;
  ErrorFn on_error_;
  bool started_ = false;

  mutable std::mutex mu_;  // guards what stats() and current() read from other threads
  k8s::SourceStats stats_;
  LoadStats last_load_;
  uint64_t loads_unchanged_ = 0;
  uint64_t reloads_deferred_ = 0;
  bool last_ok_ = false;
  std::shared_ptr<const k8s::Snapshot> current_;
};

}  // namespace netagent::source
