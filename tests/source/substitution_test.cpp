// Flux post-build substitution: the expression forms, strictness, the $$ escape, and how
// substituted scalars are typed.
#include "netagent/source/substitution.hpp"

#include <gtest/gtest.h>

#include "netagent/k8s/field.hpp"

namespace netagent::source {
namespace {

const Variables kVars{{"CLUSTER", "infra"}, {"EMPTY", ""}, {"ID", "1"}, {"FLAG", "false"}};

std::string ok(std::string_view text, const Variables& vars = kVars) {
  auto r = substitute(text, vars);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.errors.empty() ? "" : r.errors[0].message);
  return r.text;
}

TEST(Substitute, PlainVariable) {
  EXPECT_EQ(ok("${CLUSTER}"), "infra");
  EXPECT_EQ(ok("name: ${CLUSTER}-pool-${ID}"), "name: infra-pool-1");
  EXPECT_EQ(ok("${EMPTY}"), "");  // defined but empty is not an error
  EXPECT_EQ(ok("no variables here"), "no variables here");
}

TEST(Substitute, DefaultForms) {
  for (const char* op : {":=", ":-", "=", "-"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(ok(std::string("${CLUSTER") + op + "x}"), "infra");  // set: the value
    EXPECT_EQ(ok(std::string("${MISSING") + op + "x}"), "x");      // unset: the default
    EXPECT_EQ(ok(std::string("${EMPTY") + op + "x}"), "x");        // empty: the default (Flux)
    EXPECT_EQ(ok(std::string("${MISSING") + op + "}"), "");        // empty default
  }
  EXPECT_EQ(ok("${MISSING:=10.25.11.100}"), "10.25.11.100");
  EXPECT_EQ(ok("${MISSING:-a b c}"), "a b c");
}

TEST(Substitute, NestedDefault) {
  EXPECT_EQ(ok("${MISSING:=${CLUSTER}}"), "infra");
  EXPECT_EQ(ok("${MISSING:=pre-${CLUSTER}-post}"), "pre-infra-post");
  EXPECT_EQ(ok("${MISSING:=${ALSO_MISSING:-deep}}"), "deep");
  // The default is expanded even when the value is used, as Flux does: strictness still applies.
  auto r = substitute("${CLUSTER:=${UNDEFINED}}", kVars);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].variable, "UNDEFINED");
}

TEST(Substitute, UndefinedVariableIsAnErrorNamingIt) {
  auto r = substitute("start: ${POOL_START}\nstop: ${POOL_STOP}", kVars);
  ASSERT_EQ(r.errors.size(), 2u);  // every error, not just the first
  EXPECT_EQ(r.errors[0].variable, "POOL_START");
  EXPECT_NE(r.errors[0].message.find("POOL_START"), std::string::npos);
  EXPECT_NE(r.errors[0].message.find("not defined"), std::string::npos);
  EXPECT_EQ(r.errors[1].variable, "POOL_STOP");
}

TEST(Substitute, DollarEscape) {
  EXPECT_EQ(ok("$${CLUSTER}"), "${CLUSTER}");
  EXPECT_EQ(ok("$${UNDEFINED}"), "${UNDEFINED}");  // escaped: not looked up
  EXPECT_EQ(ok("a$$b"), "a$b");
  EXPECT_EQ(ok("$$$$"), "$$");
  // Only the `${` after `$$` is literal; later expressions still expand (Flux's envsubst).
  EXPECT_EQ(ok("$${X=${CLUSTER}}"), "${X=infra}");
}

TEST(Substitute, BareDollarIsText) {
  EXPECT_EQ(ok("$CLUSTER and $ and a$"), "$CLUSTER and $ and a$");
  EXPECT_EQ(ok("{CLUSTER}"), "{CLUSTER}");
}

TEST(Substitute, UnsupportedAndMalformedExpressions) {
  for (const char* bad : {"${CLUSTER:1}", "${CLUSTER/a/b}", "${#CLUSTER}", "${CLUSTER^^}",
                          "${CLUSTER:?x}", "${CLUSTER:+x}", "${}", "${CLUSTER", "${X:=abc"}) {
    SCOPED_TRACE(bad);
    auto r = substitute(std::string("v: ") + bad + " tail", kVars);
    EXPECT_FALSE(r.ok());
  }
  auto r = substitute("${CLUSTER:1}", kVars);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("unsupported"), std::string::npos) << r.errors[0].message;
  EXPECT_EQ(r.errors[0].variable, "CLUSTER");
}

TEST(Substitute, HasSubstitution) {
  EXPECT_TRUE(has_substitution("a ${X} b"));
  EXPECT_TRUE(has_substitution("a $$ b"));
  EXPECT_FALSE(has_substitution("a $X b $"));
  EXPECT_FALSE(has_substitution(""));
}

TEST(Substitute, VariableNamesAndValues) {
  EXPECT_TRUE(valid_variable_name("CLUSTER_ID"));
  EXPECT_TRUE(valid_variable_name("_x1"));
  EXPECT_FALSE(valid_variable_name("1X"));
  EXPECT_FALSE(valid_variable_name("CLUSTER-ID"));
  EXPECT_FALSE(valid_variable_name("a.b"));
  EXPECT_FALSE(valid_variable_name(""));
  EXPECT_EQ(variable_value("10.25.11.100\n"), "10.25.11.100");  // Flux strips newlines
  EXPECT_EQ(variable_value("a\nb\n"), "ab");
}

YAML::Node doc(const char* yaml) {
  return YAML::Clone(YAML::Load(yaml));
}

TEST(SubstituteDocument, PlainScalarsTakeTheTypeOfTheirValue) {
  auto d = doc(R"(
spec:
  disabled: ${FLAG}
  id: ${ID}
  quoted: "${FLAG}"
  single: '${ID}'
  text: prefix-${FLAG}
)");
  ASSERT_TRUE(substitute_document(d, kVars).empty());
  k8s::Field spec(d["spec"], "spec");
  EXPECT_FALSE(spec["disabled"].boolean());
  EXPECT_EQ(d["spec"]["disabled"].Tag(), "?");  // plain: a YAML boolean, as Flux produces
  EXPECT_EQ(spec["id"].integer(0, 10), 1);
  EXPECT_EQ(d["spec"]["id"].as<int>(), 1);
  EXPECT_EQ(d["spec"]["quoted"].Tag(), "!");  // quoted in the file: stays a string
  EXPECT_EQ(d["spec"]["quoted"].Scalar(), "false");
  EXPECT_EQ(d["spec"]["single"].Tag(), "!");
  EXPECT_EQ(d["spec"]["text"].Scalar(), "prefix-false");
}

TEST(SubstituteDocument, ValuesCanBecomeStructureOrNull) {
  Variables v{{"LIST", "[a, b]"}, {"EMPTY", ""}, {"Q", "\""}, {"N", "123"}};
  auto d = doc("ports: ${LIST}\nnone: ${EMPTY}\nforced: ${Q}${N}${Q}\n");
  ASSERT_TRUE(substitute_document(d, v).empty());
  ASSERT_TRUE(d["ports"].IsSequence());
  EXPECT_EQ(d["ports"].size(), 2u);
  EXPECT_TRUE(d["none"].IsNull());
  // Flux's documented ${quote} idiom keeps a number a string.
  EXPECT_EQ(d["forced"].Scalar(), "123");
  EXPECT_EQ(d["forced"].Tag(), "!");
}

TEST(SubstituteDocument, BlockScalarsKeysAndCommentsOfTheFile) {
  auto d = doc(R"(
# a comment with ${UNDEFINED} is not part of the object
data:
  ${CLUSTER}-key: value
  config: |
    endpoints:
    - https://${CLUSTER}:2379
)");
  ASSERT_TRUE(substitute_document(d, kVars).empty());
  EXPECT_TRUE(d["data"]["infra-key"]);
  EXPECT_EQ(d["data"]["config"].Scalar(), "endpoints:\n- https://infra:2379\n");
}

TEST(SubstituteDocument, ErrorsCarryTheFieldPath) {
  auto d = doc(R"(
spec:
  blocks:
  - start: ${POOL_START}
    stop: ${POOL_STOP:=10.0.0.9}
)");
  auto errs = substitute_document(d, kVars);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].variable, "POOL_START");
  EXPECT_EQ(errs[0].field, "spec.blocks[0].start");
}

TEST(SubstituteDocument, DisabledByLabelOrAnnotation) {
  EXPECT_TRUE(substitution_disabled(
      YAML::Load("metadata: {annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}}")));
  EXPECT_TRUE(substitution_disabled(
      YAML::Load("metadata: {labels: {kustomize.toolkit.fluxcd.io/substitute: disabled}}")));
  EXPECT_FALSE(substitution_disabled(
      YAML::Load("metadata: {annotations: {kustomize.toolkit.fluxcd.io/substitute: enabled}}")));
  EXPECT_FALSE(substitution_disabled(YAML::Load("metadata: {name: x}")));
  EXPECT_FALSE(substitution_disabled(YAML::Load("just a scalar")));
}

}  // namespace
}  // namespace netagent::source
