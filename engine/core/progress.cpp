#include "engine/core/progress.h"

namespace qlab {

namespace {
class NoProgress final : public Progress {
 public:
  void report(double, std::string_view) override {}
};
}  // namespace

Progress& Progress::none() {
  static NoProgress p;
  return p;
}

}  // namespace qlab
