// The libyaml-based parser builds the same yaml-cpp trees as YAML::LoadAll, and reports what is
// wrong with a file by document, line and column.
#include "netagent/source/yaml_documents.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace netagent::source {
namespace {

// A structural description (types, tags, scalars, key order) that two equal trees share.
std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "~";
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'" + n.Tag();
    case YAML::NodeType::Sequence: {
      std::string s = "[" + n.Tag();
      for (const auto& c : n)
        s += describe(c) + ",";
      return s + "]";
    }
    case YAML::NodeType::Map: {
      std::string s = "{" + n.Tag();
      for (auto it = n.begin(); it != n.end(); ++it) {
        s += describe(it->first) + ":" + describe(it->second) + ",";
      }
      return s + "}";
    }
    default:
      return "?";
  }
}

void expect_same_as_yaml_cpp(const std::string& text, const std::string& what) {
  auto ours = parse_yaml_documents(text);
  ASSERT_FALSE(ours.error) << what << ": " << ours.error->str();
  auto theirs = YAML::LoadAll(text);
  ASSERT_EQ(ours.documents.size(), theirs.size()) << what;
  for (size_t i = 0; i < theirs.size(); ++i) {
    EXPECT_EQ(describe(ours.documents[i]), describe(theirs[i])) << what << " document " << i;
  }
}

TEST(YamlDocuments, SameTreesAsYamlCpp) {
  expect_same_as_yaml_cpp(R"(
a: 1
b: "two"
c: 'three'
d: ~
e:
f: null
g: |
  block
h: !!str 5
i: [x, "y", {z: 1}, [], {}]
j: &anchor {k: v}
l: *anchor
m: -1.5
n: yes
folded: >
  one
  two
? complex
: value
"quoted key": 1
empty_string: ""
)",
                          "mixed");
  expect_same_as_yaml_cpp("", "empty stream");
  expect_same_as_yaml_cpp("# only a comment\n", "comment only");
  expect_same_as_yaml_cpp("---\n---\na: 1\n", "leading empty document");
  expect_same_as_yaml_cpp("a: 1\n---\n# nothing\n---\nb: 2\n---\n", "empty documents");
  expect_same_as_yaml_cpp("--- just a scalar\n--- [1, 2]\n...\n", "markers");
  expect_same_as_yaml_cpp(
      "\xEF\xBB\xBF"
      "a: 1\n",
      "byte order mark");
}

TEST(YamlDocuments, SameTreesAsYamlCppForTheExampleClusters) {
  size_t files = 0;
  auto root = std::filesystem::path(NETAGENT_SOURCE_DIR) / "deploy";
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".yaml") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    expect_same_as_yaml_cpp(ss.str(), e.path().string());
    ++files;
  }
  EXPECT_GE(files, 20u);
}

TEST(YamlDocuments, AliasesShareTheAnchoredNode) {
  auto r = parse_yaml_documents("base: &b {x: 1}\nuse: *b\n");
  ASSERT_FALSE(r.error);
  EXPECT_TRUE(r.documents[0]["use"].is(r.documents[0]["base"]));
  auto bad = parse_yaml_documents("use: *missing\n");
  ASSERT_TRUE(bad.error);
  EXPECT_NE(bad.error->message.find("missing"), std::string::npos);
}

TEST(YamlDocuments, SyntaxErrorsSayDocumentLineAndColumn) {
  auto r = parse_yaml_documents("a: 1\n---\nb: 2\n---\nkind: Service\nmetadata: {name: [x\n");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->document, 2);
  EXPECT_GE(r.error->line, 6);
  EXPECT_FALSE(r.error->message.empty());
  auto s = r.error->str();
  EXPECT_EQ(s.rfind("line ", 0), 0u) << s;

  auto indent = parse_yaml_documents("spec:\n  ports:\n  - port: 80\n   name: x\n");
  ASSERT_TRUE(indent.error);
  EXPECT_EQ(indent.error->document, 0);
  EXPECT_EQ(indent.error->line, 4);
}

TEST(YamlDocuments, DuplicateKeysAreAnError) {
  auto r = parse_yaml_documents("---\nmetadata:\n  name: a\n  labels: {app: x}\n  name: b\n");
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->line, 5);
  EXPECT_EQ(r.error->document, 0);
  EXPECT_NE(r.error->message.find("duplicate key \"name\""), std::string::npos) << r.error->message;
  // The same key in different maps, and many keys in one map, are fine; a duplicate among many
  // keys is still found.
  std::string big = "data:\n";
  for (int i = 0; i < 100; ++i)
    big += "  k" + std::to_string(i) + ": v\n";
  EXPECT_FALSE(parse_yaml_documents("a: {x: 1}\nb: {x: 2}\n" + big).error);
  auto dup = parse_yaml_documents(big + "  k77: again\n");
  ASSERT_TRUE(dup.error);
  EXPECT_NE(dup.error->message.find("k77"), std::string::npos);
}

}  // namespace
}  // namespace netagent::source
