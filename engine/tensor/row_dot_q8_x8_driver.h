// The x8 kernels' driver (rows interleaved by 8, row_interleave.h), written once for every instruction
// set: included by row_dot_q8_x8_qlab_avx512.cpp, row_dot_q8_x8_neon.cpp and row_dot_q8_x8_qlab_neon.cpp
// inside their namespace and an unnamed one, after the set's
//   prefetch_ahead(p, bytes)      a block's bytes asked for ahead of its use
//   store8(y, acc, scale)         a format's float lanes to its eight rows' results, times scale
// A format (Fmt) has kValues (values per block), kHead and kBlock (bytes of a header and of a block of
// eight rows), kGroupsAtOnce (1 or 2: the groups of eight rows one pass reads, as registers allow),
// group(args) (values per header, a multiple of kValues), Head head(p) (the header's parts, once per
// group and eight rows), X xblock(args, b) (block b's activations, once for all the groups of a pass),
// Acc block(args, p, head, x, b, acc) (acc with block b's products added; Acc{} is zero) and
// row_scale(args) (multiplies every row's sum at the end). Eight rows take cols / group x (kHead +
// group / kValues x kBlock) bytes, group after group.

template <class Fmt, int R>
inline void x8_groups(const RowDotArgs& a, std::int64_t g, float* y) {
  const std::int64_t group = Fmt::group(a), per_group = group / Fmt::kValues, groups = a.cols / group;
  const std::int64_t eight_rows = groups * (Fmt::kHead + per_group * Fmt::kBlock);  // bytes of eight rows
  const std::uint8_t* p[R];
  typename Fmt::Acc acc[R];
  for (int i = 0; i < R; ++i) {
    p[i] = a.data + (g / 8 + i) * eight_rows;
    acc[i] = typename Fmt::Acc{};
  }
  for (std::int64_t j = 0, b = 0; j < groups; ++j) {
    typename Fmt::Head h[R];
    for (int i = 0; i < R; ++i) {
      prefetch_ahead(p[i], Fmt::kHead);
      h[i] = Fmt::head(p[i]);
      p[i] += Fmt::kHead;
    }
    for (const std::int64_t end = b + per_group; b < end; ++b) {
      const typename Fmt::X x = Fmt::xblock(a, b);
      for (int i = 0; i < R; ++i) {
        prefetch_ahead(p[i], Fmt::kBlock);
        acc[i] = Fmt::block(a, p[i], h[i], x, b, acc[i]);
        p[i] += Fmt::kBlock;
      }
    }
  }
  for (int i = 0; i < R; ++i) store8(y + 8 * i, acc[i], Fmt::row_scale(a));
}

// kGroupsAtOnce groups at a time (sixteen rows share each block's activations), then one.
template <class Fmt>
void x8_row_dot(const RowDotArgs& a, std::int64_t r0, std::int64_t n, float* y) {
  std::int64_t g = r0;
  if constexpr (Fmt::kGroupsAtOnce == 2)
    for (; g + 16 <= r0 + n; g += 16) x8_groups<Fmt, 2>(a, g, y + (g - r0));
  for (; g < r0 + n; g += 8) x8_groups<Fmt, 1>(a, g, y + (g - r0));
}
