#pragma once
// Small helpers the labs share: the error of a round trip. (Synthetic weight-like tensors come from the
// engine, engine/tensor/synthetic.h, the generator `qlab quantize-tensor --synthetic` uses.)
//   ErrorStats         SQNR, MSE, max error, and an error histogram of x against its round trip
#include <cstdint>
#include <string>
#include <vector>

#include "labs/result.h"

namespace qlab::labs {

struct ErrorStats {
  double sqnr_db = 0;   // 10 log10(sum x^2 / sum (x - q)^2); +inf when exact
  double mse = 0;
  double max_abs = 0;
  double zero_fraction = 0;  // nonzero inputs that came back as exactly zero (underflow)
};

ErrorStats error_stats(const std::vector<float>& x, const std::vector<float>& q);
// Histogram of q - x over [-range, range] (values outside land in the end bins).
Histogram error_histogram(const std::vector<float>& x, const std::vector<float>& q, double range, int bins,
                          std::string title);

// "12.3" / "inf" for a table cell.
std::string fmt_db(double db);

}  // namespace qlab::labs
