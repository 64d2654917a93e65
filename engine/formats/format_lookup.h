#pragma once
// Format names to formats: the one lookup every caller uses, with the one error message a wrong
// name gets (it lists the valid names, and says so when a name is of the other kind).
//   find_block_format   the traits row of a block format, or nullptr ("intB-gch" = "intB-ch")
//   block_format        the same, or UnknownFormat
//   scalar_format       a scalar codec (f16, bf16, e4m3, ...), or UnknownFormat
// The CLI turns UnknownFormat into a usage error (exit 2); elsewhere it is a qlab::Error like any other.
#include <string>
#include <string_view>

#include "engine/core/error.h"
#include "engine/formats/block.h"
#include "engine/formats/scalar.h"

namespace qlab::formats {

class UnknownFormat : public Error {
 public:
  using Error::Error;
};

const BlockFormatSpec* find_block_format(std::string_view name);
const BlockFormatSpec& block_format(std::string_view name);
ScalarFormat scalar_format(std::string_view name);
// "nvfp4 mxfp4 nf4 ..." in table order, for listings and messages.
std::string block_format_names();

}  // namespace qlab::formats
