#pragma once
// How much of this process is in memory: what a bounded-memory job (the streaming quantizer on a model
// larger than the machine's memory) measures itself by.
//   resident_bytes        now (/proc/self/statm's resident pages; 0 where it cannot be read)
//   peak_resident_bytes   the most it has been since the process started (getrusage's ru_maxrss)
//   physical_memory_bytes the machine's memory (sysconf), what a live figure is drawn against
#include <cstdint>

namespace qlab {

std::uint64_t resident_bytes();
std::uint64_t peak_resident_bytes();
std::uint64_t physical_memory_bytes();

}  // namespace qlab
