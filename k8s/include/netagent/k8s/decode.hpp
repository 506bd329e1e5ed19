#pragma once
// Decoding YAML documents into typed objects, with errors that say where: file, document index,
// object and field.
#include <functional>
#include <optional>
#include <string>

#include "netagent/k8s/field.hpp"
#include "netagent/k8s/objects.hpp"

namespace netagent::k8s {

struct DecodeError {
  SourceRef source;
  std::string object;  // "Service default/web", or empty when the document has no identity yet
  std::string field;   // "spec.ports[0].port", or empty for document-level errors
  std::string message;

  // "dir/svc.yaml (document 2): Service default/web: spec.ports[0].port: value out of range"
  std::string str() const;
};

// Reads apiVersion, kind and metadata of one document. Throws FieldError (with every error of
// them in FieldError::more).
Object read_object(const YAML::Node& doc, SourceRef source);

// Runs fn (which may throw FieldError) and converts a failure to a DecodeError about obj: the
// first error only.
std::optional<DecodeError> guard(const Object& obj, const std::function<void()>& fn);
// The same with every error fn collected (FieldError::more): empty when fn succeeded.
std::vector<DecodeError> guard_all(const Object& obj, const std::function<void()>& fn);
// A FieldError and the ones it carries, as DecodeErrors about `object` from `source`.
std::vector<DecodeError> decode_errors(const SourceRef& source, const std::string& object,
                                       const FieldError& e);

// Decoders for the core kinds. Each throws FieldError with the failing field's path, and with
// every other bad field of the object in FieldError::more.
Service decode_service(const Object& obj);
EndpointSlice decode_endpoint_slice(const Object& obj);
Pod decode_pod(const Object& obj);
Namespace decode_namespace(const Object& obj);
Node decode_node(const Object& obj);
ConfigMap decode_config_map(const Object& obj);
Secret decode_secret(const Object& obj);

// Field helpers shared with the feature libraries' CRD decoders.
Protocol decode_protocol(const Field& f, Protocol def = Protocol::TCP);
uint16_t decode_port(const Field& f);  // 1..65535, required
// An IP address of either family; fails with the field path otherwise.
IpAddress decode_ip(const Field& f);
// An IPv4 address in dotted form; fails with the field path otherwise.
IpAddress decode_ipv4(const Field& f);
// An address of the given family ("is not an IPv6 address" otherwise).
IpAddress decode_ip(const Field& f, IpFamily family);
// A CIDR such as 10.0.0.0/8 or fd00::/64 (the /prefix is required); host bits are cleared.
IpPrefix decode_cidr(const Field& f);

}  // namespace netagent::k8s
