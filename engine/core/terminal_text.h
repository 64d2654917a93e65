#pragma once
// Text that came from a file, an argument or a model, made safe to print on a terminal: an escape
// sequence hidden in a token file or a progress file must not reach the terminal as one (it could
// retitle the window, move the cursor or, on some terminals, answer back as typed input).
#include <string>
#include <string_view>

namespace qlab {

// C0 controls (all of them, or all but newline and tab with keep_newlines), DEL and bytes that are
// not part of valid UTF-8 become \xNN; C1 controls (U+0080..U+009F) become \u00NN. Everything else,
// printable ASCII and valid UTF-8 alike, is kept as it is.
std::string terminal_safe(std::string_view text, bool keep_newlines = false);

}  // namespace qlab
