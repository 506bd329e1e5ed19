#include "netagent/source/manifest_tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

namespace netagent::source {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

struct Walker {
  fs::path root;
  std::string root_shown;
  TreeListing out;
  std::set<std::pair<dev_t, ino_t>> visited;

  void walk(const fs::path& dir, const std::string& rel) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return;
    if (!visited.insert({st.st_dev, st.st_ino}).second) return;  // a symlink loop
    out.dirs.push_back(dir);
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (name.empty() || name[0] == '.') continue;
      fs::path p = dir / name;
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      struct stat cs {};
      if (::stat(p.c_str(), &cs) != 0) {
        // A dangling symlink that looks like a manifest is an error, not a silent omission.
        if (is_manifest_name(name)) {
          out.files.push_back(ManifestFile{root_shown_join(child_rel), child_rel,
                                           std::string("cannot read: ") + std::strerror(errno),
                                           ""});
        }
        continue;
      }
      if (S_ISDIR(cs.st_mode)) {
        walk(p, child_rel);
      } else if (S_ISREG(cs.st_mode) && is_manifest_name(name)) {
        out.files.push_back(ManifestFile{root_shown_join(child_rel), child_rel, "", ""});
      }
    }
  }

  std::string root_shown_join(const std::string& rel) const {
    if (root_shown.empty() || root_shown == ".") return rel;
    return root_shown.back() == '/' ? root_shown + rel : root_shown + "/" + rel;
  }
};

}  // namespace

bool is_manifest_name(const std::string& name) {
  return !name.empty() && name[0] != '.' && (ends_with(name, ".yaml") || ends_with(name, ".yml"));
}

TreeListing list_tree(const fs::path& root) {
  Walker w;
  w.root = root;
  w.root_shown = root.string();
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) {
    w.out.error = "cannot open manifest directory " + root.string() + ": " + std::strerror(errno);
    return std::move(w.out);
  }
  if (!S_ISDIR(st.st_mode)) {
    w.out.error = root.string() + " is not a directory";
    return std::move(w.out);
  }
  w.walk(root, "");
  // Directories were visited in sorted order, but "a/b.yaml" must sort against "a.yaml" by the
  // whole relative path.
  std::sort(w.out.files.begin(), w.out.files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.relative < b.relative; });
  return std::move(w.out);
}

void read_file(ManifestFile& f) {
  f.content.clear();
  int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    f.read_error = std::string("cannot read: ") + std::strerror(errno);
    return;
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) f.content.reserve(size_t(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      f.read_error = std::string("cannot read: ") + std::strerror(errno);
      f.content.clear();
      break;
    }
    if (n == 0) break;
    f.content.append(buf, size_t(n));
  }
  ::close(fd);
}

}  // namespace netagent::source
