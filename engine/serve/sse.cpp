#include "engine/serve/sse.h"

namespace qlab::serve {

void SseParser::feed(std::string_view bytes, std::vector<std::string>& events) {
  for (char ch : bytes) {
    if (ch != '\n') {
      line_ += ch;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {  // end of an event
      if (has_data_) events.push_back(data_);
      data_.clear();
      has_data_ = false;
    } else if (line_.front() != ':') {
      const auto colon = line_.find(':');
      const std::string_view field = std::string_view(line_).substr(0, colon);
      std::string_view value = colon == std::string::npos ? std::string_view() : std::string_view(line_).substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (field == "data") {
        if (has_data_) data_ += '\n';
        data_ += value;
        has_data_ = true;
      }
    }
    line_.clear();
  }
}

}  // namespace qlab::serve
