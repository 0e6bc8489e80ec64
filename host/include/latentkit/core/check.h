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

// Thrown for bad user input (data, files, a flag that does not fit them): apps print the message
// without file:line noise and exit 1.
class InputError : public Error {
 public:
  explicit InputError(const std::string& what) : Error(what) {}
};

// Thrown for a command line that is wrong by itself, before any file is read: a flag's value out of
// its range, an unknown choice (`--device tpu`), flags that exclude each other. Apps exit 2 for it,
// as for the flags the parser refuses (README "Exit codes"). A FlagError is an InputError, so code
// that catches bad input catches both.
class FlagError : public InputError {
 public:
  explicit FlagError(const std::string& what) : InputError(what) {}
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

// Throws `type` with just the message when `cond` fails: the user-facing checks below.
#define LK_DETAIL_REQUIRE(cond, type, msg) \
  do {                                     \
    if (!(cond)) {                         \
      std::ostringstream lk_os_;           \
      lk_os_ << msg;                       \
      throw type(lk_os_.str());            \
    }                                      \
  } while (0)

// Bad user input (data, files): throws InputError with just the message (exit 1).
#define LK_INPUT_CHECK(cond, msg) LK_DETAIL_REQUIRE(cond, ::latentkit::InputError, msg)

// A command line wrong by itself (see FlagError): throws FlagError with just the message (exit 2).
#define LK_FLAG_CHECK(cond, msg) LK_DETAIL_REQUIRE(cond, ::latentkit::FlagError, msg)
