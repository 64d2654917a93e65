#!/usr/bin/env bash
# qlab developer entry point: installs what is missing, builds, and runs.
#   ./dev.sh start        install + build + open the tutor on the built-in model
#   ./dev.sh test         install + build + run every test (what CI runs)
#   ./dev.sh asan         unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   ./dev.sh arm64        cross-build the engine and its unit tests for aarch64, run them under qemu-user
#   ./dev.sh fuzz         build the libFuzzer targets with clang and run each for FUZZ_SECONDS (default 60)
#   ./dev.sh build        install + build only
set -euo pipefail
cd "$(dirname "$0")"

JOBS=${JOBS:-$(nproc)}
PACKAGES=(build-essential cmake pkg-config libncurses-dev libfmt-dev nlohmann-json3-dev zlib1g-dev
          libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev liblapack-dev tmux python3)
FUZZ_PACKAGES=(clang)
ARM64_PACKAGES=(g++-aarch64-linux-gnu qemu-user libfmt-dev:arm64 nlohmann-json3-dev libgtest-dev:arm64
                libgmock-dev:arm64 libopenblas-dev:arm64)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {  # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

case "${1:-start}" in
  start)
    install_missing "${PACKAGES[@]}"
    build build
    shift || true
    exec ./build/app/qlab "$@"
    ;;
  build)
    install_missing "${PACKAGES[@]}"
    build build
    ;;
  test)
    install_missing "${PACKAGES[@]}"
    build build
    ctest --test-dir build --output-on-failure -j "$JOBS"
    ;;
  asan)
    install_missing "${PACKAGES[@]}"
    build build-asan -DQLAB_SANITIZE=ON -DQLAB_ENGINE_ONLY=ON -DQLAB_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure -j "$JOBS"
    ;;
  arm64)
    if ! dpkg --print-foreign-architectures | grep -q arm64; then as_root dpkg --add-architecture arm64; fi
    install_missing "${PACKAGES[@]}" "${ARM64_PACKAGES[@]}"
    build build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DQLAB_ENGINE_ONLY=ON -DQLAB_BUILD_BENCH=OFF
    ctest --test-dir build-arm64 --output-on-failure -j "$JOBS"
    ;;
  fuzz)
    install_missing "${PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQLAB_FUZZ=ON \
      -DQLAB_ENGINE_ONLY=ON -DQLAB_BUILD_BENCH=OFF >/dev/null
    targets=()
    for src in tests/fuzz/*_fuzz.cpp; do n=$(basename "$src" _fuzz.cpp); targets+=("$n"); done
    cmake --build build-fuzz -j "$JOBS" --target "${targets[@]/#/fuzz_}"
    mkdir -p build-fuzz/artifacts
    for n in "${targets[@]}"; do
      # new inputs go to a scratch copy, so the committed seed corpus stays small
      mkdir -p "build-fuzz/corpus/$n"
      echo "fuzzing $n for ${FUZZ_SECONDS:-60} s"
      ./build-fuzz/tests/fuzz/fuzz_"$n" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix=build-fuzz/artifacts/"$n"- "build-fuzz/corpus/$n" "tests/fuzz/corpus/$n"
    done
    ;;
  *)
    sed -n '2,9p' "$0"; exit 2 ;;
esac
