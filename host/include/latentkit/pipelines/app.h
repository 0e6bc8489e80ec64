// What every latentkit app (apps/<name>/main.cpp) and pipeline (host/src/pipelines/<name>.cpp)
// repeats:
//  - run_app(): parse the CLI11 flags, run the app's body, and map the outcome to the exit code
//    every app documents: 0 ok; 1 InputError (bad data or files, a flag that does not fit them);
//    2 a command line wrong by itself (a CLI parse error, or FlagError: a value out of range, an
//    unknown choice, flags that exclude each other) or NoDeviceError (--device cuda without a
//    GPU); 3 anything else (CUDA error, out of memory). Errors are one line on stderr:
//    "<app>: <message>" (exit 1, NoDeviceError), "<app>: <message> (see --help)" (the command
//    line, exit 2), "<app>: error: <message>" (exit 3); --help prints and exits 0.
//  - DeviceFlag: the --device auto | cpu | cuda flag and the backend it selects (select_backend,
//    which logs the device it picked); add_enum_option: any flag naming an enum value.
//  - helpers of the apps' outputs: float_as_decimal(), seconds_since(), the progress line of
//    training loops (write_progress_line), and read_checkpoint() for --resume. summary.json itself
//    is latentkit/io/summary.h (RunSummary, StageResult, versions_json), included here.
// A thin app reads:
//   int main(int argc, char** argv) {
//     CLI::App app{"myapp: ..."};
//     latentkit::DeviceFlag device;
//     device.add_to(app);
//     app.add_option(...);
//     return latentkit::run_app("myapp", app, argc, argv, [&] {
//       auto backend = device.select(std::cerr);
//       ...  // throw FlagError / InputError for bad flags / input; return for exit 0
//     });
//   }
// Tests: tests/test_app.cpp (the exit-code mapping, in process) and every app's end-to-end tests
// (tests/test_<app>.cpp through tests/app_test_util.h).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "latentkit/core/backend.h"
#include "latentkit/core/device.h"
#include "latentkit/core/enum_names.h"
#include "latentkit/io/io.h"
#include "latentkit/io/summary.h"

namespace CLI {
class App;
class Option;
}

namespace latentkit {

// Parses argv into `app`, then runs `body` and returns the exit code (see the top of this file).
// Messages go to `err` (std::cerr in the apps; a string stream in tests); --help goes to stdout.
int run_app(const std::string& name, CLI::App& app, int argc, const char* const* argv,
            const std::function<void()>& body, std::ostream& err = std::cerr);

namespace detail {
// add_enum_option without the template: an option taking one string, handed to `set`.
CLI::Option* add_choice_option(CLI::App& app, const std::string& flag, const std::string& help,
                               const std::string& default_name,
                               std::function<void(const std::string&)> set);
}  // namespace detail

// Binds `flag` to the enum `target` (names from EnumNames<E>, latentkit/core/enum_names.h). The
// parser converts the value, so an unknown one is refused while parsing, before any file is read:
// exit 2, "<app>: --covariance must be full or diag, got 'x' (see --help)". --help shows the
// default as its name.
template <class E>
CLI::Option* add_enum_option(CLI::App& app, const std::string& flag, E& target,
                             const std::string& help) {
  return detail::add_choice_option(
      app, flag, help, enum_name(target),
      [&target, flag](const std::string& text) { target = parse_enum<E>(text, flag); });
}

// The --device flag of every app.
struct DeviceFlag {
  DeviceChoice choice = DeviceChoice::Auto;
  // Adds "--device auto | cpu | cuda (auto: the GPU if there is one)" to `app` ("gpu" is an alias
  // of cuda).
  void add_to(CLI::App& app);
  // select_backend(choice, log): throws NoDeviceError for cuda without a usable GPU; logs the
  // device it picked to `log`.
  std::unique_ptr<Backend> select(std::ostream& log) const;
};

// Adds "--seed" bound to `seed`: a decimal integer in [0, 2^64 - 1]. Anything else (-1, 2^64, 1e3)
// is refused as a bad flag (exit 2) instead of wrapping around to 2^64 - 1.
CLI::Option* add_seed_option(CLI::App& app, uint64_t& seed, const std::string& help);

// A float flag value as the decimal the user typed (7 significant digits: float32's precision),
// so summary.json shows 0.001 rather than 0.0010000000474974513.
double float_as_decimal(float f);

// Wall seconds since t0 on the steady clock.
double seconds_since(std::chrono::steady_clock::time_point t0);

// One progress line of a long loop: on a terminal it overwrites itself ("\r" ... erase to the end
// of the line) and ends with a newline only when `last`; elsewhere (a log file, a pipe) every
// line stands on its own.
void write_progress_line(std::ostream& log, const std::string& line, bool last, bool tty);

// A progress reporter for loops that can run long: call it with (phase, done, total) as often as
// convenient; it writes "<prefix>: <phase> <done>/<total>  <seconds> s" through
// write_progress_line at most every 2 s, and the closing line (done == total) of a phase only when
// it wrote a line for that phase before, so that a short run prints nothing. `every_seconds`: the
// interval (2 s: often enough to show life, rare enough for a log file; tests pass 0 or huge).
using ProgressFn = std::function<void(const std::string& phase, long long done, long long total)>;
ProgressFn throttled_progress(std::ostream& log, const std::string& prefix, bool tty,
                              double every_seconds = 2.0);

// Refuses (InputError) work whose memory estimate `bytes` exceeds what the machine has now: the
// host's available memory (MemAvailable), and on a GPU backend also the device's free memory.
// The message gives the figure, the limit and `remedy` (the flags that shrink it):
// "<what> needs about 29.8 GiB, more than the 12.1 GiB of memory available: <remedy>".
void check_memory(double bytes, const Backend& backend, const std::string& what,
                  const std::string& remedy);

// The checkpoint a --resume run continues from, checked to be one (header "kind" == kind, else
// "'<path>' is not <what>") and to come from a run with the same settings (header "run" ==
// identity, else "... resume with the same flags (only <may_change> may change) or drop
// --resume"). Both failures are InputErrors.
ModelFile read_checkpoint(const std::string& path, const std::string& kind, const std::string& what,
                          const nlohmann::json& identity, const std::string& may_change);

}  // namespace latentkit
