#pragma once
// Privileged tests (BPF, netns, interop) need root. Outside CI they skip with a reason; in CI
// (CI=true) a skip would hide a broken environment, so it is a failure instead.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace netagent::testing {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

}  // namespace netagent::testing

// Use at the top of a TEST body or SetUp(): skips (or fails in CI) when `cond` is false.
#define NETAGENT_REQUIRE(cond, why)                            \
  do {                                                         \
    if (!(cond)) {                                             \
      if (::netagent::testing::in_ci()) {                      \
        FAIL() << "required in CI but unavailable: " << (why); \
      } else {                                                 \
        GTEST_SKIP() << (why);                                 \
      }                                                        \
    }                                                          \
  } while (0)

#define NETAGENT_REQUIRE_ROOT() \
  NETAGENT_REQUIRE(::geteuid() == 0, "needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF)")
