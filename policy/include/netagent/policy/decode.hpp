#pragma once
// Decoding NetworkPolicy, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy objects into
// PolicyDocuments, and registering the kinds with the snapshot builder so that a bad policy is
// rejected (with file, document, object and field) before anything is applied.
#include <memory>
#include <vector>

#include "netagent/common/result.hpp"
#include "netagent/k8s/snapshot.hpp"
#include "netagent/policy/rule.hpp"

namespace netagent::policy {

inline constexpr const char* kNetworkPolicy = "NetworkPolicy";
inline constexpr const char* kCiliumNetworkPolicy = "CiliumNetworkPolicy";
inline constexpr const char* kCiliumClusterwideNetworkPolicy = "CiliumClusterwideNetworkPolicy";

bool is_policy_kind(std::string_view kind);

// Decoders: throw k8s::FieldError naming the bad field. Unknown fields are errors (a typo in a
// security policy must not go unnoticed); known but unsupported fields become warnings.
PolicyDocument decode_network_policy(const k8s::Object& obj);
PolicyDocument decode_cilium_policy(const k8s::Object& obj);
// Either of the above by kind.
PolicyDocument decode_policy(const k8s::Object& obj);

// Registers NetworkPolicy (networking.k8s.io/v1) and the Cilium kinds (cilium.io/v2) with their
// decoders: each policy is decoded once, when the manifests load.
void register_kinds(k8s::KindRegistry& registry);

using PolicyDocuments = std::vector<std::shared_ptr<const PolicyDocument>>;

// Decodes every policy object of a snapshot, sorted by (kind, namespace, name).
Result<PolicyDocuments> decode_policies(const k8s::Snapshot& snap);

}  // namespace netagent::policy
