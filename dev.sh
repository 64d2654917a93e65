#!/usr/bin/env bash
# qlab developer entry point: installs what is missing, builds, and runs.
#   ./dev.sh start        install + build + open the tutor on the built-in model
#   ./dev.sh test         install + build (warnings are errors) + run every test (what CI runs)
#   ./dev.sh asan         every test (engine, labs, tui, the CLI through an instrumented qlab) under
#                         AddressSanitizer + UndefinedBehaviorSanitizer, built with clang together with
#                         the libFuzzer targets (build-asan, which `fuzz` reuses)
#   ./dev.sh tsan         the pool, job runner and progress-lock tests under ThreadSanitizer
#   ./dev.sh arm64        cross-build the engine and its unit tests for aarch64, run them under qemu-user
#   ./dev.sh fuzz         build the libFuzzer targets with clang and run each for FUZZ_SECONDS (default 60)
#   ./dev.sh build        install + build only
set -euo pipefail
cd "$(dirname "$0")"

JOBS=${JOBS:-$(nproc)}
PACKAGES=(build-essential cmake pkg-config libncurses-dev libfmt-dev nlohmann-json3-dev zlib1g-dev libzstd-dev
          libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev liblapack-dev tmux python3 ccache
          libcpp-httplib-dev)
TEST_PACKAGES=(chromium)  # the suite's HTML report is tested in a real headless browser
FUZZ_PACKAGES=(clang libclang-rt-dev)  # libFuzzer and the sanitizer runtimes are only a Recommends of clang
# Whole-text comparisons with fixtures (every GGUF variant over all 180 chunks; 116 MMLU prompts), minutes
# under ASan: the test stage runs them; their code paths run under ASan in the suite's shorter tests.
ASAN_NATIVE_ONLY='^(LlamaCpp\.GgufPerplexity|MmluFixture\.PromptsIds)'
# Tests the arm64 stage leaves to the native stages (see `arm64` below).
ARM64_NATIVE_ONLY='^(ModelQuality\.Gptq|LayerJournal\.ResumedRun|SuiteRun\.WordPerplexity|MmluScore\.BuiltinSet|McRuntime\.TheBuiltInModel|BuiltinModel\.(AnswersMultipleChoice|RoundingTheWeights)|LlamaCpp\.GgufPerplexity|MmluFixture\.PromptsIds)'
ARM64_PACKAGES=(g++-aarch64-linux-gnu qemu-user libfmt-dev:arm64 nlohmann-json3-dev libgtest-dev:arm64
                libgmock-dev:arm64 libopenblas-dev:arm64 libzstd-dev:arm64 zlib1g-dev:arm64)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "dev.sh: installing packages needs root: run it as root, or install sudo" >&2; exit 1
  fi
}

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

add_arm64_architecture() {
  dpkg --print-foreign-architectures | grep -qx arm64 || as_root dpkg --add-architecture arm64
  # Ubuntu serves arm64 from a separate mirror (ports): without this, apt-get update fails on the arm64
  # indexes the stock (24.04, deb822) sources do not have.
  . /etc/os-release
  [ "$ID" = ubuntu ] || return 0
  local stock=/etc/apt/sources.list.d/ubuntu.sources ports=/etc/apt/sources.list.d/ubuntu-ports-arm64.sources
  [ -f "$ports" ] && return 0
  [ -f "$stock" ] || { echo "arm64 on Ubuntu needs the deb822 sources of 24.04 ($stock)" >&2; exit 1; }
  grep -q '^Architectures:' "$stock" ||
    as_root sed -i "/^Types:/a Architectures: $(dpkg --print-architecture)" "$stock"
  printf '%s\n' 'Types: deb' 'URIs: http://ports.ubuntu.com/ubuntu-ports/' \
    "Suites: $VERSION_CODENAME $VERSION_CODENAME-updates $VERSION_CODENAME-security" \
    'Components: main universe' 'Architectures: arm64' \
    'Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg' | as_root tee "$ports" >/dev/null
}

# ccache, when installed, makes every later build of unchanged sources (another build folder, a fresh
# clone of the same tree) a cache hit: paths inside the checkout are hashed relative to it, and the
# working folder is left out of the hash of builds with debug information.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
launcher() { command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache; true; }

# Warnings are errors in the GCC builds CI runs (test, arm64); the clang builds (asan, fuzz, tsan)
# report theirs without stopping; `start` and `build` leave them
# warnings, so a newer compiler's new warning never stops a learner from opening the tutor.
WERROR=-DQLAB_WERROR=ON

configure() {  # configure DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release $(launcher) "$@" >/dev/null
}

build() {  # build DIR [cmake args...]: every target
  configure "$@"
  cmake --build "$1" -j "$JOBS"
}

# The clang build with ASan + UBSan that `asan` tests and `fuzz` fuzzes (build-asan).
configure_asan() {
  CC=clang CXX=clang++ configure build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQLAB_SANITIZE=ON -DQLAB_FUZZ=ON \
    -DQLAB_BUILD_BENCH=OFF
}

case "${1:-start}" in
  start)
    install_missing "${PACKAGES[@]}"
    configure build
    cmake --build build -j "$JOBS" --target qlab  # the tutor only: tests and benchmarks wait for `test`
    shift || true
    exec ./build/app/qlab "$@"
    ;;
  build)
    install_missing "${PACKAGES[@]}"
    build build
    ;;
  test)
    install_missing "${PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    # Node.js and npm for the real llama.cpp the GGUF tests load (npm's node-llama-cpp); a Node.js from
    # elsewhere (NodeSource's carries its own npm) is used as it is.
    command -v node >/dev/null && command -v npm >/dev/null || install_missing nodejs npm
    tests/node/install.sh
    build build "$WERROR"
    ctest --test-dir build --output-on-failure -j "$JOBS"
    ;;
  asan)
    install_missing "${PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    # One clang build serves both: every test binary and the fuzz targets, all with ASan + UBSan
    # (and libFuzzer's coverage hooks, which cost the tests little). RelWithDebInfo: -O2, with lines
    # in the reports.
    configure_asan
    cmake --build build-asan -j "$JOBS"
    # The tutor's end-to-end tests and the CLI tests run the instrumented qlab, so its memory errors
    # and leaks fail them too.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -j "$JOBS" -E "$ASAN_NATIVE_ONLY"
    ;;
  tsan)
    install_missing "${PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    # Only what has threads worth checking: the thread pool (test_core), the job runner (test_tui)
    # and the progress file's lock (test_labs). OpenBLAS's own threads are not instrumented (their
    # synchronisation is invisible to TSan), so it runs single-threaded here. clang: GCC's
    # target_clones resolvers run before the TSan runtime starts and crash it; clang builds no clones.
    CC=clang CXX=clang++ configure build-tsan -DQLAB_TSAN=ON -DQLAB_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
    cmake --build build-tsan -j "$JOBS" --target test_core test_tui test_labs
    OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      ctest --test-dir build-tsan --output-on-failure -j "$JOBS" \
        -R '^(Threads|ThreadPool|MappedFile|JobRunner|ProgressFileTest|AppTest)\.'
    ;;
  arm64)
    add_arm64_architecture
    install_missing "${PACKAGES[@]}" "${ARM64_PACKAGES[@]}"
    build build-arm64 "$WERROR" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DQLAB_ENGINE_ONLY=ON -DQLAB_BUILD_BENCH=OFF
    # Under qemu-user every instruction is emulated (some 20 times slower than native): the whole-model
    # runs on the built-in model (GPTQ/AWQ quality floors, MMLU, word perplexity, rounding sweeps) take
    # 2 to 10+ minutes each there. They run the same kernels the unit tests below check on aarch64, and
    # run in full natively (test, asan); here they are left out so the stage stays a few minutes.
    ctest --test-dir build-arm64 --output-on-failure -j "$JOBS" -E "$ARM64_NATIVE_ONLY"
    ;;
  fuzz)
    install_missing "${PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    configure_asan
    targets=()
    for src in tests/fuzz/*_fuzz.cpp; do n=$(basename "$src" _fuzz.cpp); targets+=("$n"); done
    cmake --build build-asan -j "$JOBS" --target "${targets[@]/#/fuzz_}"
    mkdir -p build-asan/fuzz-artifacts
    for n in "${targets[@]}"; do
      # new inputs go to a scratch copy, so the committed seed corpus stays small
      mkdir -p "build-asan/fuzz-corpus/$n"
      echo "fuzzing $n for ${FUZZ_SECONDS:-60} s"
      ./build-asan/tests/fuzz/fuzz_"$n" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix=build-asan/fuzz-artifacts/"$n"- "build-asan/fuzz-corpus/$n" "tests/fuzz/corpus/$n"
    done
    ;;
  *)
    sed -n '2,11p' "$0"; exit 2 ;;
esac
