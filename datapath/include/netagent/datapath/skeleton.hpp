#pragma once
// Owner of a bpftool-generated skeleton: open (with or without a bpffs pin root), set read-only
// configuration, load, destroy. The generated C++ statics (Skel::open/load/destroy) do the work;
// this class adds ownership and errors with context.
//
// Pinning: maps declared with LIBBPF_PIN_BY_NAME are pinned under `pin_root` and reused from
// there on the next start (that is how state survives an agent restart). Without a pin root every
// map is private to this instance (tests, `netctl policy trace`).
#include <bpf/libbpf.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "netagent/common/result.hpp"

namespace netagent::datapath {

struct OpenOptions {
  std::optional<std::string> pin_root;  // bpffs directory for pinned maps; nullopt = no pinning
  std::string object_name;              // shown by bpftool; defaults to the skeleton's name
};

template <typename Skel>
class Skeleton {
 public:
  static Result<Skeleton> open(const OpenOptions& opts, const char* what) {
    LIBBPF_OPTS(bpf_object_open_opts, o);
    if (opts.pin_root) o.pin_root_path = opts.pin_root->c_str();
    if (!opts.object_name.empty()) o.object_name = opts.object_name.c_str();
    errno = 0;
    Skel* s = Skel::open(&o);
    if (!s) return sys_error(std::string("open BPF object ") + what, errno ? errno : EINVAL);
    Skeleton out(s, what);
    if (!opts.pin_root) {
      bpf_map* m;
      bpf_object__for_each_map(m, s->obj) {
        if (bpf_map__set_pin_path(m, nullptr) != 0) {
          return sys_error(std::string("unpin map ") + bpf_map__name(m), errno);
        }
      }
    }
    return out;
  }

  Status load() {
    int err = Skel::load(skel_.get());
    if (err) return sys_error("load BPF object " + what_ + " into the kernel", -err);
    return {};
  }

  Skel* get() const { return skel_.get(); }
  Skel* operator->() const { return skel_.get(); }
  bpf_object* object() const { return skel_->obj; }
  const std::string& what() const { return what_; }

 private:
  struct Destroy {
    void operator()(Skel* s) const { Skel::destroy(s); }
  };
  Skeleton(Skel* s, std::string what) : skel_(s), what_(std::move(what)) {}

  std::unique_ptr<Skel, Destroy> skel_;
  std::string what_;
};

}  // namespace netagent::datapath
