// State files are replaced whole: the old file or the new one, never a mix;
// a missing file is not an error, an unreadable or oversized one is.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "daemon/host/state_file.h"

namespace vigil::host {
namespace {

class StateFile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ =
            std::filesystem::temp_directory_path() / ("vigil-state-" + std::to_string(::getpid()) +
                                                      "-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

TEST_F(StateFile, WritesReplaceAndReadBack) {
    const auto file = dir_ / "sub" / "admin-state";
    auto none = read_state_file(file);
    ASSERT_TRUE(none) << none.error();
    EXPECT_FALSE(*none) << "no file yet: nothing, not an error";
    ASSERT_TRUE(write_state_file(file, "first\n"));
    ASSERT_TRUE(write_state_file(file, "second\n"));
    auto back = read_state_file(file);
    ASSERT_TRUE(back && *back);
    EXPECT_EQ(**back, "second\n");
    EXPECT_FALSE(std::filesystem::exists(file.string() + ".tmp")) << "no temporary left behind";
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(StateFile, OversizedAndUnreadableAreErrorsThatSayWhere) {
    const auto big = dir_ / "big";
    std::ofstream(big) << std::string(std::size_t{70} * 1024, 'x');
    auto r = read_state_file(big);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(big.string()), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("larger than"), std::string::npos) << r.error().message;
    // A directory where the file should be: readable by nobody as a file.
    const auto dir = dir_ / "adir";
    std::filesystem::create_directories(dir);
    auto d = read_state_file(dir);
    EXPECT_FALSE(d);
    // Writing over a directory fails and leaves no temporary.
    EXPECT_FALSE(write_state_file(dir, "x"));
    EXPECT_FALSE(std::filesystem::exists(dir.string() + ".tmp"));
}

}  // namespace
}  // namespace vigil::host
