#pragma once
// Whether this test binary is built with AddressSanitizer or ThreadSanitizer (GCC says so with
// __SANITIZE_*__, clang with __has_feature). Such a build reserves terabytes of address space, so no
// RLIMIT_AS cap fits it, and its runtime reports SIGBUS itself instead of dying by it.
namespace qlab::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif
#else
inline constexpr bool kSanitizerBuild = false;
#endif

}  // namespace qlab::testing
