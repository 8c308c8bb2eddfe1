// Runs the fuzz entry point over deterministic mutations of the fixtures:
// flipped, inserted and deleted bytes, duplicated and dropped lines. Any
// crash, sanitizer report or abort fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::string(VIGIL_NET_FIXTURES) + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void feed(const std::string& s) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

std::string mutate(std::string s, std::mt19937& rng) {
    static const char kAlphabet[] = "0123456789 \t\n:/-.x\\\0\xff";
    const int rounds = 1 + static_cast<int>(rng() % 8);
    for (int r = 0; r < rounds && !s.empty(); ++r) {
        const std::size_t at = rng() % s.size();
        switch (rng() % 6) {
            case 0:
                s[at] = static_cast<char>(rng() % 256);
                break;
            case 1:
                s.insert(at, 1, kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
                break;
            case 2:
                s.erase(at, 1 + rng() % 16);
                break;
            case 3: {
                // Duplicate a line somewhere else.
                const std::size_t begin = s.rfind('\n', at);
                const std::size_t end = s.find('\n', at);
                const std::size_t b = begin == std::string::npos ? 0 : begin + 1;
                const std::string line =
                    s.substr(b, end == std::string::npos ? std::string::npos : end - b + 1);
                s.insert(rng() % s.size(), line);
                break;
            }
            case 4: {
                // Drop a line.
                const std::size_t end = s.find('\n', at);
                s.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
                break;
            }
            case 5:
                s.resize(at);
                break;
        }
    }
    return s;
}

TEST(MountstatsFuzzReplay, MutatedFixturesNeverCrash) {
    std::mt19937 rng(20240611);
    for (const char* name :
         {"nfs4_mountstats.txt", "nfs3_mountstats.txt", "nfs3_old_kernel_mountstats.txt"}) {
        const std::string base = fixture(name);
        ASSERT_FALSE(base.empty()) << name;
        feed(base);
        for (int i = 0; i < 3000; ++i) feed(mutate(base, rng));
    }
    for (int i = 0; i < 2000; ++i) {
        std::string junk(rng() % 512, '\0');
        for (char& c : junk) c = static_cast<char>(rng() % 256);
        feed(junk);
    }
}

}  // namespace
