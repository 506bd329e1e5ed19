#include "netagent/source/manifest_source.hpp"

#include <spdlog/spdlog.h>

namespace netagent::source {

ManifestSource::ManifestSource(boost::asio::io_context& io, std::filesystem::path root,
                               Options options)
    : root_(std::move(root)),
      options_(std::move(options)),
      loader_(options_.manifests),
      watcher_(io, root_, options_.watch) {}

ManifestSource::~ManifestSource() {
  stop();
}

void ManifestSource::start(SnapshotFn on_snapshot, ErrorFn on_error) {
  on_snapshot_ = std::move(on_snapshot);
  on_error_ = std::move(on_error);
  started_ = true;
  // Watch first: an edit made while the first load runs then still triggers a reload.
  if (options_.watch_enabled) {
    auto st = watcher_.start([this] { reload(); });
    if (!st) {
      spdlog::error("manifests {}: cannot watch for changes ({}); edits need a restart",
                    root_.string(), st.error().str());
    }
  }
  reload();
}

void ManifestSource::stop() {
  watcher_.stop();
  started_ = false;
}

void ManifestSource::reload() {
  // A reload asked for from outside (SIGHUP, POST /v1/resync, a periodic check) while files are
  // being written would read them half done: the watcher loads the tree once they are closed.
  if (started_ && options_.watch_enabled) {
    auto w = watcher_.stats();
    if (!w.writing.empty()) {
      spdlog::info(
          "manifests {}: reload deferred: {} file(s) being written (first {}); the tree is "
          "loaded once they are closed",
          root_.string(), w.writing.size(), w.writing.front());
      std::lock_guard lock(mu_);
      ++reloads_deferred_;
      return;
    }
  }
  apply(loader_.load(root_));
}

void ManifestSource::apply(TreeLoad load) {
  auto now = std::chrono::system_clock::now();
  bool deliver_ok = false;
  {
    std::lock_guard lock(mu_);
    stats_.last_attempt = now;
    last_load_ = load.stats;
    if (load.warnings != stats_.warnings) {
      for (const auto& w : load.warnings) {
        spdlog::warn("manifests: {}", w);
      }
      if (load.warnings.empty() && !stats_.warnings.empty()) {
        spdlog::info("manifests {}: no more warnings", root_.string());
      }
      stats_.warnings = load.warnings;
    }
    // Same bytes as the previous attempt: same outcome, already delivered or reported.
    if (load.unchanged && (last_ok_ == load.ok())) {
      ++loads_unchanged_;
      return;
    }
    last_ok_ = load.ok();
    if (load.ok()) {
      ++stats_.loads_ok;
      stats_.last_ok = now;
      stats_.last_errors.clear();
      current_ = load.snapshot;
      deliver_ok = true;
    } else {
      ++stats_.loads_failed;
      stats_.last_errors = load.errors;
    }
  }
  const auto& st = load.stats;
  if (deliver_ok) {
    spdlog::info(
        "manifests {}: loaded {} objects ({} ignored) from {} files ({} parsed, {} "
        "kustomization builds) in {:.1f} ms",
        root_.string(), st.objects, st.ignored, st.files, st.files_parsed, st.kustomizations,
        double(st.duration.count()) / 1000.0);
    if (on_snapshot_) on_snapshot_(load.snapshot);
    return;
  }
  // The ErrorFn gets every error; the log gets enough to act on without flooding it when one
  // change breaks thousands of objects (a removed variable, say).
  constexpr size_t kLogged = 20;
  for (size_t i = 0; i < load.errors.size() && i < kLogged; ++i) {
    spdlog::error("manifests: {}", load.errors[i].str());
  }
  if (load.errors.size() > kLogged) {
    spdlog::error("manifests: ... and {} more errors", load.errors.size() - kLogged);
  }
  spdlog::warn("manifests {}: {} error(s); the last good state stays in effect", root_.string(),
               load.errors.size());
  if (on_error_) on_error_(load.errors);
}

k8s::SourceStats ManifestSource::stats() const {
  k8s::SourceStats out;
  {
    std::lock_guard lock(mu_);
    out = stats_;
  }
  auto w = watcher_.stats();
  if (!w.writing.empty()) {
    out.pending =
        "waiting for " + std::to_string(w.writing.size()) + " file(s) being written to be closed:";
    constexpr size_t kShown = 10;
    for (size_t i = 0; i < w.writing.size() && i < kShown; ++i)
      out.pending += " " + w.writing[i];
    if (w.writing.size() > kShown) {
      out.pending += " and " + std::to_string(w.writing.size() - kShown) + " more";
    }
  } else if (w.pending) {
    out.pending = "a change is settling";
  }
  return out;
}

ManifestSourceStats ManifestSource::manifest_stats() const {
  ManifestSourceStats out;
  {
    std::lock_guard lock(mu_);
    out.source = stats_;
    out.last_load = last_load_;
    out.loads_unchanged = loads_unchanged_;
    out.reloads_deferred = reloads_deferred_;
  }
  out.watch = watcher_.stats();
  return out;
}

std::shared_ptr<const k8s::Snapshot> ManifestSource::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::string ManifestSource::describe() const {
  return "manifests " + root_.string();
}

}  // namespace netagent::source
