#pragma once
// Server-sent events as an OpenAI-compatible server streams them (the HTML Living Standard's event
// stream format, reduced to what those servers send): lines "data: <payload>", an empty line ending
// an event, ":" comment lines, other fields (event, id, retry) ignored; \n or \r\n line ends.
//   SseParser::feed   bytes as they arrive (split anywhere) -> the data payloads of complete events
#include <string>
#include <string_view>
#include <vector>

namespace qlab::serve {

class SseParser {
 public:
  // Appends the data of every event the bytes complete to `events` (multi-line data joined by \n).
  void feed(std::string_view bytes, std::vector<std::string>& events);
  // Bytes received that do not yet end an event (a stream that stops here was cut short).
  bool pending() const { return !line_.empty() || has_data_; }

 private:
  std::string line_, data_;
  bool has_data_ = false;
};

}  // namespace qlab::serve
