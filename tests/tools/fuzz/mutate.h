// Deterministic mutations for replaying fuzz entry points in ordinary test
// runs (GCC builds have no libFuzzer): flipped, inserted and deleted bytes,
// duplicated and dropped lines, truncation. Seeded, so a failure reproduces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace vigil::testing {

inline std::string mutate(std::string s, std::mt19937& rng) {
    static const char kAlphabet[] = "0123456789 \t\n:/-.x\\\"[]{}=,\0\xff";
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
            case 3: {  // duplicate a line somewhere else
                const std::size_t begin = s.rfind('\n', at);
                const std::size_t end = s.find('\n', at);
                const std::size_t b = begin == std::string::npos ? 0 : begin + 1;
                const std::string line =
                    s.substr(b, end == std::string::npos ? std::string::npos : end - b + 1);
                s.insert(rng() % s.size(), line);
                break;
            }
            case 4: {  // drop a line
                const std::size_t end = s.find('\n', at);
                s.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
                break;
            }
            case 5:
                s.resize(at);
                break;
            default:  // rng() % 6 gives no other value
                break;
        }
    }
    return s;
}

inline std::string random_bytes(std::mt19937& rng, std::size_t max_len) {
    std::string junk(rng() % max_len, '\0');
    for (char& c : junk) c = static_cast<char>(rng() % 256);
    return junk;
}

}  // namespace vigil::testing
