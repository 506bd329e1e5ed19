#pragma once
// Typed, path-aware access to a YAML document, for decoding Kubernetes objects.
//
// Every accessor knows its field path ("spec.ports[0].port") so that a bad value is reported
// with exactly where it is. Accessors throw FieldError; decode_object() (decode.hpp) catches it
// at the object boundary and turns it into a DecodeError value, so nothing escapes the decoder.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "netagent/k8s/selector.hpp"

namespace netagent::k8s {

struct FieldError : std::runtime_error {
  FieldError(std::string field_path, const std::string& message)
      : std::runtime_error(message), path(std::move(field_path)) {}
  std::string path;
  // Further errors of the same object, when a decoder collected several (FieldErrors below).
  std::vector<FieldError> more;
};

// Collects every error of one object, so that a decoder reports all its bad fields and not only
// the first. Each independent part of the object is decoded under check(): a FieldError it throws
// is kept and decoding goes on with the next part; raise() at the end throws them all at once (the
// first, with the others in FieldError::more).
class Field;

class FieldErrors {
 public:
  template <typename Fn>
  bool check(Fn&& fn) {
    try {
      fn();
      return true;
    } catch (const FieldError& e) {
      add(e);
      return false;
    }
  }
  void add(const FieldError& e);  // e and its `more`, flattened
  // The items of list `f`; none (the error kept) when it is not a list.
  std::vector<Field> items(const Field& f);
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  // Throws when any error was collected.
  void raise() const;

 private:
  std::vector<FieldError> errors_;
};

class Field {
 public:
  Field(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  bool present() const { return node_.IsDefined() && !node_.IsNull(); }
  bool is_map() const { return node_.IsMap(); }
  bool is_seq() const { return node_.IsSequence(); }
  bool is_scalar() const { return node_.IsScalar(); }

  Field operator[](const std::string& key) const;
  // Sequence elements; an absent field is an empty list, a non-list is an error.
  std::vector<Field> items() const;
  // Map entries in document order; an absent field is empty, a non-map is an error.
  std::vector<std::pair<std::string, Field>> entries() const;

  [[noreturn]] void fail(const std::string& message) const { throw FieldError(path_, message); }

  // Scalars. The plain forms require the field; opt_* return nullopt when it is absent.
  std::string str() const;
  std::optional<std::string> opt_str() const;
  std::string str_or(const std::string& def) const { return opt_str().value_or(def); }
  int64_t integer(int64_t min, int64_t max) const;
  std::optional<int64_t> opt_integer(int64_t min, int64_t max) const;
  bool boolean() const;
  std::optional<bool> opt_boolean() const;
  // A string restricted to a set of values (an enum), e.g. {"TCP","UDP","SCTP"}.
  std::string one_of(const std::vector<std::string>& allowed, const std::string& def) const;
  // map<string,string> such as labels, annotations, ConfigMap data.
  std::map<std::string, std::string> string_map() const;
  std::vector<std::string> string_list() const;
  LabelSelector selector() const;

 private:
  YAML::Node node_;
  std::string path_;
};

}  // namespace netagent::k8s
