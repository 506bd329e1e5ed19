#pragma once
// Flux post-build variable substitution (kustomize-controller `spec.postBuild.substituteFrom`),
// in its strict form (`--feature-gates=StrictPostBuildSubstitutions=true`):
//
//   ${VAR}                        the value of VAR; an error when VAR is not defined
//   ${VAR:=default} ${VAR:-default}
//   ${VAR=default}  ${VAR-default} the value of VAR, or `default` when VAR is unset or empty
//                                 (Flux's envsubst treats all four alike); `default` may itself
//                                 contain ${...} expressions
//   $$                            a literal `$`, so `$${VAR}` yields the text `${VAR}`
//
// Other bash operators that Flux's envsubst knows (${#VAR}, ${VAR:1:2}, ${VAR/a/b}, ${VAR^^}, ...)
// are reported as unsupported rather than guessed at. Values are used with newlines removed, as
// Flux does, and variable names must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$.
//
// substitute_document() applies this to every scalar (keys and values) of one parsed manifest, the
// equivalent of Flux substituting the re-serialised resource: comments never take part, a plain
// scalar is typed by its new content (`disabled: ${POOL_DISABLED}` becomes the boolean false, a
// `[a, b]` value becomes a list), while a scalar that was quoted in the file stays a string.
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace netagent::source {

using Variables = std::map<std::string, std::string>;

struct SubstitutionError {
  std::string variable;  // the variable concerned; empty for a syntax error
  std::string field;     // field path in the document ("spec.blocks[0].start"); "" for text
  std::string message;
};

struct SubstitutedText {
  std::string text;
  std::vector<SubstitutionError> errors;
  bool ok() const { return errors.empty(); }
};

// True when text contains anything substitution would change ("${" or "$$").
bool has_substitution(std::string_view text);

// Substitutes one string. Every error is collected; the failing expression expands to "".
SubstitutedText substitute(std::string_view text, const Variables& vars);

// Flux's rule for variable names (the keys of cluster-settings).
bool valid_variable_name(std::string_view name);

// The value of a settings key as Flux uses it: newlines removed.
std::string variable_value(std::string_view raw);

// Substitutes every scalar of doc in place (doc must be a private copy, e.g. YAML::Clone).
// Errors carry the field path of the scalar they were found in.
std::vector<SubstitutionError> substitute_document(YAML::Node& doc, const Variables& vars);

// The `kustomize.toolkit.fluxcd.io/substitute: disabled` label or annotation.
bool substitution_disabled(const YAML::Node& object);

}  // namespace netagent::source
