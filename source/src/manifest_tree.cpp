#include "netagent/source/manifest_tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
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

  std::map<std::pair<dev_t, ino_t>, std::string> visited;  // directory -> where first read

  void walk(const fs::path& dir, const std::string& rel) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return;
    auto [first, fresh] = visited.emplace(std::make_pair(st.st_dev, st.st_ino), rel);
    if (!fresh) {
      // A symlink to a directory already read: to one of its ancestors (a loop), or a second
      // way to the same directory. Reading it again would define every object twice.
      bool loop = first->second.empty() || rel.rfind(first->second + "/", 0) == 0;
      std::string where = first->second.empty() ? "the root" : first->second;
      out.warnings.push_back(root_shown_join(rel) + ": " +
                             (loop ? "symlink loop (points back to " + where + "); not followed"
                                   : "the same directory as " + where + "; read there only"));
      return;
    }
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
        int err = errno;
        // A dangling symlink that looks like a manifest is an error, not a silent omission.
        if (is_manifest_name(name)) {
          out.files.push_back(ManifestFile{root_shown_join(child_rel), child_rel,
                                           std::string("cannot read: ") + std::strerror(err), ""});
        } else if (err == ELOOP) {
          out.warnings.push_back(root_shown_join(child_rel) + ": symlink loop; not followed");
        }
        continue;
      }
      if (S_ISDIR(cs.st_mode)) {
        walk(p, child_rel);
      } else if (S_ISREG(cs.st_mode)) {
        if (is_manifest_name(name)) {
          out.files.push_back(ManifestFile{root_shown_join(child_rel), child_rel, "", ""});
        }
      } else if (const char* kind = special_file_kind(cs.st_mode)) {
        struct stat ls {};
        bool link = ::lstat(p.c_str(), &ls) == 0 && S_ISLNK(ls.st_mode);
        std::string what = std::string(link ? "a symlink to " : "") + kind;
        if (is_manifest_name(name)) {
          out.files.push_back(ManifestFile{root_shown_join(child_rel), child_rel,
                                           "is " + what + ", not a regular file: not read", ""});
        } else {
          out.warnings.push_back(root_shown_join(child_rel) + ": " + what + "; not read");
        }
      }
    }
  }

  std::string root_shown_join(const std::string& rel) const {
    if (root_shown.empty() || root_shown == ".") return rel;
    return root_shown.back() == '/' ? root_shown + rel : root_shown + "/" + rel;
  }
};

}  // namespace

const char* special_file_kind(unsigned mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return nullptr;
}

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
  // O_NONBLOCK: a FIFO put in place of the file since it was listed must not block the load
  // (opening one for reading blocks until a writer appears); O_NOCTTY for a terminal device.
  int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    f.read_error = std::string("cannot read: ") + std::strerror(errno);
    return;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    f.read_error = std::string("cannot read: ") + std::strerror(errno);
    ::close(fd);
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    const char* kind = special_file_kind(st.st_mode);
    f.read_error = std::string("is ") + (kind ? kind : "not a regular file") +
                   (kind ? ", not a regular file" : "") + ": not read";
    ::close(fd);
    return;
  }
  if (st.st_size > 0) f.content.reserve(size_t(st.st_size));
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
