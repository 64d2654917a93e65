#pragma once
// Small helpers for the "key : value" text that /proc files and nvidia-smi print.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qlab::sysinfo::detail {

std::string_view trim(std::string_view s);
std::vector<std::string_view> split_lines(std::string_view text);
std::vector<std::string_view> split(std::string_view s, char sep);

// "key<spaces/tabs>:<spaces/tabs>value" -> {key, value}, both trimmed; nullopt without a colon.
std::optional<std::pair<std::string_view, std::string_view>> key_value(std::string_view line);

std::optional<long long> parse_integer(std::string_view s);  // decimal, or 0x-prefixed hex
std::optional<double> parse_number(std::string_view s);      // plain decimal number

}  // namespace qlab::sysinfo::detail
