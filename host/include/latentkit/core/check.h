// Error checking for host code: LK_CHECK throws latentkit::Error with file, line, the failed
// expression and a message that says what to do. Apps catch Error, print its one line and exit.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace latentkit {

// Thrown for every user-facing failure (bad input, bad flags, CUDA errors).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown for bad user input (files, flags): apps print the message without file:line noise.
class InputError : public Error {
 public:
  explicit InputError(const std::string& what) : Error(what) {}
};

namespace detail {
[[noreturn]] inline void throw_check(const char* file, int line, const char* expr,
                                     const std::string& msg) {
  std::ostringstream os;
  os << msg << " [" << file << ":" << line << ": check `" << expr << "` failed]";
  throw Error(os.str());
}
}  // namespace detail
}  // namespace latentkit

// Internal invariant / argument check; `msg` may use operator<< chains.
#define LK_CHECK(cond, msg)                                                      \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::ostringstream lk_os_;                                                 \
      lk_os_ << msg;                                                             \
      ::latentkit::detail::throw_check(__FILE__, __LINE__, #cond, lk_os_.str()); \
    }                                                                            \
  } while (0)

// Bad user input: throws InputError with just the message.
#define LK_INPUT_CHECK(cond, msg)                  \
  do {                                             \
    if (!(cond)) {                                 \
      std::ostringstream lk_os_;                   \
      lk_os_ << msg;                               \
      throw ::latentkit::InputError(lk_os_.str()); \
    }                                              \
  } while (0)
