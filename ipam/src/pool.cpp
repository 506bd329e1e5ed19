#include "netagent/ipam/pool.hpp"

#include <algorithm>
#include <cctype>

namespace netagent::ipam {
namespace {

using k8s::Field;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// allowFirstLastIPs is an enum "Yes" | "No" in the CRD; an unquoted yes/no/true/false reaches us
// as the same scalar text, so accept those spellings in any case.
bool decode_allow_first_last(const Field& f) {
  if (!f.present()) return false;
  auto v = lower(f.str());
  if (v == "yes" || v == "true") return true;
  if (v == "no" || v == "false") return false;
  f.fail("unsupported value \"" + f.str() + "\" (expected Yes or No)");
}

PoolBlock decode_cidr_block(const Field& f) {
  PoolBlock b;
  b.text = f.str();
  b.from_cidr = true;
  // Host bits are cleared, as Cilium does (netip.ParsePrefix, then the prefix's range).
  auto p = k8s::decode_cidr(f);
  if (p.is_v6()) {
    b.ipv6 = true;
    return b;
  }
  b.prefix_len = p.len;
  b.first = p.as_v4().first();
  b.last = p.as_v4().last();
  return b;
}

PoolBlock decode_range_block(const Field& start, const Field& stop) {
  PoolBlock b;
  auto a = start.str();
  auto z = stop.present() ? stop.str() : a;  // a lone start is a single address
  b.text = stop.present() ? a + "-" + z : a;
  // The family is the start's; stop must be of the same family.
  auto first = IpAddress::parse(a);
  if (!first) start.fail("\"" + a + "\" is not an IP address");
  auto last = IpAddress::parse(z);
  if (!last || last->family() != first->family()) {
    stop.fail("\"" + z + "\" is not an " + to_string(first->family()) + " address like start");
  }
  if (*last < *first) stop.fail("stop " + z + " is before start " + a);
  if (first->is_v6()) {
    b.ipv6 = true;
    return b;
  }
  b.first = first->as_v4();
  b.last = last->as_v4();
  return b;
}

void decode_block(const Field& f, std::vector<PoolBlock>& out) {
  if (!f.is_map()) f.fail("expected a block (a map with cidr, or start and stop)");
  auto cidr = f["cidr"];
  auto start = f["start"];
  auto stop = f["stop"];
  PoolBlock b;
  if (cidr.present()) {
    if (start.present() || stop.present())
      f.fail("a block has either cidr or start/stop, not both");
    b = decode_cidr_block(cidr);
  } else if (start.present()) {
    b = decode_range_block(start, stop);
  } else if (stop.present()) {
    start.fail("is required when stop is set");
  } else {
    f.fail("a block needs cidr, or start (and optionally stop)");
  }
  b.field = f.path();
  out.push_back(std::move(b));
}

// Each block is checked on its own: every bad block of the list is reported.
void decode_blocks(k8s::FieldErrors& errs, const Field& list, std::vector<PoolBlock>& out) {
  std::vector<Field> items;
  if (!errs.check([&] { items = list.items(); })) return;
  for (auto& f : items) {
    errs.check([&] { decode_block(f, out); });
  }
}

}  // namespace

Pool decode_pool(const k8s::Object& obj) {
  Field root(obj.raw, "");
  auto spec = root["spec"];
  Pool p;
  p.name = obj.meta.name;  // cluster-scoped: a metadata.namespace in the manifest is ignored
  p.labels = obj.meta.labels;
  p.source = obj.source;
  if (spec.present() && !spec.is_map()) spec.fail("expected a map");
  // Every bad field is reported, not only the first (k8s::FieldErrors).
  k8s::FieldErrors errs;
  decode_blocks(errs, spec["blocks"], p.blocks);
  // `cidrs` is the deprecated name of `blocks` (cilium#28590); both are read.
  decode_blocks(errs, spec["cidrs"], p.blocks);
  errs.check([&] { p.service_selector = spec["serviceSelector"].selector(); });
  errs.check([&] { p.disabled = spec["disabled"].opt_boolean().value_or(false); });
  errs.check([&] { p.allow_first_last = decode_allow_first_last(spec["allowFirstLastIPs"]); });
  errs.raise();
  return p;
}

void register_kinds(k8s::KindRegistry& registry) {
  registry.add(kPoolKind, {"cilium.io/v2alpha1", "cilium.io/v2"}, decode_pool);
}

std::vector<Pool> decode_pools(const k8s::Snapshot& snap, std::vector<k8s::DecodeError>* errors) {
  std::vector<Pool> out;
  for (const auto* obj : snap.of_kind(kPoolKind)) {
    if (const auto* decoded = obj->as<Pool>()) {  // decoded at load
      out.push_back(*decoded);
      continue;
    }
    Pool p;
    auto err = k8s::guard(*obj, [&] { p = decode_pool(*obj); });
    if (err) {
      if (errors) errors->push_back(*err);
      continue;
    }
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const Pool& a, const Pool& b) { return a.name < b.name; });
  return out;
}

}  // namespace netagent::ipam
