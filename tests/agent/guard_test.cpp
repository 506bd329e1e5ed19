// The agent's guards that need no root: the bpf-root lock (flock, holder named from
// /proc/locks), the state directory made owner-only, and atomic owner-only state files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "netagent/agent/bpf_root_lock.hpp"
#include "netagent/agent/startup.hpp"
#include "netagent/common/file.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::agent {
namespace {

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(BpfRootLock, IsExclusiveNamesTheHolderAndIsReleasedWithItsDescriptor) {
  testing::TempDir dir("na-lock");
  auto first = BpfRootLock::acquire(dir.path());
  ASSERT_TRUE(first.ok()) << first.error().str();
  EXPECT_TRUE(first->held());
  // flock belongs to the open file description: a second open in the same process conflicts,
  // as a second agent's would.
  auto second = BpfRootLock::acquire(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().errnum, EWOULDBLOCK);
  EXPECT_NE(second.error().message.find("--bpf-root " + dir.path() +
                                        " is locked by another netagent (pid " +
                                        std::to_string(::getpid())),
            std::string::npos)
      << second.error().message;
  first->release();
  auto third = BpfRootLock::acquire(dir.path());
  EXPECT_TRUE(third.ok()) << third.error().str();
}

TEST(BpfRootLock, AMissingDirectoryIsAnError) {
  auto l = BpfRootLock::acquire("/nonexistent/netagent-bpf-root");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().errnum, ENOENT);
}

TEST(StateDir, AnExistingLooseStateDirAndItsFilesBecomeOwnerOnly) {
  testing::TempDir dir("na-state");
  const std::string state = dir.path() + "/state";
  ASSERT_EQ(::mkdir(state.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(state.c_str(), 0755), 0);
  std::ofstream(state + "/lb-ipam.json") << "{}\n";
  ASSERT_EQ(::chmod((state + "/lb-ipam.json").c_str(), 0644), 0);
  Config c;
  c.state_dir = state;
  c.api_socket = dir.path() + "/run/api.sock";
  EXPECT_FALSE(prepare_dirs(c));
  EXPECT_EQ(mode_of(state), 0700u);
  EXPECT_EQ(mode_of(state + "/lb-ipam.json"), 0600u);
  // A new one is created 0700.
  c.state_dir = dir.path() + "/fresh/state";
  EXPECT_FALSE(prepare_dirs(c));
  EXPECT_EQ(mode_of(c.state_dir), 0700u);
}

TEST(StateFile, IsWrittenWholeAndOwnerOnlyWhateverTheUmask) {
  testing::TempDir dir("na-file");
  const std::string path = dir.path() + "/lb-ipam.json";
  const mode_t old = ::umask(0);
  std::ofstream(path + ".tmp") << "stale";
  ::chmod((path + ".tmp").c_str(), 0666);
  auto st = write_file_atomic(path, "{\"a\": 1}\n");
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st.error().str();
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "{\"a\": 1}\n");
}

}  // namespace
}  // namespace netagent::agent
