#include "netagent/k8s/selector.hpp"

#include <gtest/gtest.h>

namespace netagent::k8s {
namespace {

using Op = SelectorRequirement::Op;

TEST(LabelSelector, EmptyMatchesEverything) {
  LabelSelector s;
  EXPECT_TRUE(s.matches({}));
  EXPECT_TRUE(s.matches({{"a", "b"}}));
}

TEST(LabelSelector, MatchLabelsAndExpressionsAreAnded) {
  LabelSelector s;
  s.match_labels = {{"app", "web"}};
  s.match_expressions = {{"tier", Op::In, {"a", "b"}}};
  EXPECT_TRUE(s.matches({{"app", "web"}, {"tier", "a"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}, {"tier", "c"}}));
  EXPECT_FALSE(s.matches({{"app", "db"}, {"tier", "a"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}}));
}

TEST(LabelSelector, Operators) {
  struct Case {
    SelectorRequirement r;
    Labels labels;
    bool want;
  } cases[] = {
      {{"k", Op::In, {"v"}}, {{"k", "v"}}, true},
      {{"k", Op::In, {"v"}}, {{"k", "w"}}, false},
      {{"k", Op::In, {"v"}}, {}, false},
      {{"k", Op::NotIn, {"v"}}, {{"k", "w"}}, true},
      {{"k", Op::NotIn, {"v"}}, {{"k", "v"}}, false},
      {{"k", Op::NotIn, {"v"}}, {}, true},  // absent key matches NotIn
      {{"k", Op::Exists, {}}, {{"k", ""}}, true},
      {{"k", Op::Exists, {}}, {}, false},
      {{"k", Op::DoesNotExist, {}}, {}, true},
      {{"k", Op::DoesNotExist, {}}, {{"k", "v"}}, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.r.matches(c.labels), c.want) << c.r.key << " " << to_string(c.r.op);
  }
}

}  // namespace
}  // namespace netagent::k8s
