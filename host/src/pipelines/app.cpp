// The shared app main and summary helpers (see latentkit/pipelines/app.h).
#include "latentkit/pipelines/app.h"

#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "latentkit/core/check.h"
#include "latentkit/core/device.h"

namespace latentkit {

int run_app(const std::string& name, CLI::App& app, int argc, const char* const* argv,
            const std::function<void()>& body, std::ostream& err) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    err << name << ": " << e.what() << " (see --help)\n";
    return 2;
  } catch (const FlagError& e) {  // an enum flag's value (add_enum_option)
    err << name << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  // NoDeviceError and InputError derive from Error, FlagError from InputError: the order of these
  // handlers matters. A FlagError reads as the parser's refusals do, with the same exit code.
  try {
    body();
    return 0;
  } catch (const FlagError& e) {
    err << name << ": " << e.what() << " (see --help)\n";
    return 2;
  } catch (const NoDeviceError& e) {
    err << name << ": " << e.what() << "\n";
    return 2;
  } catch (const InputError& e) {
    err << name << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << name << ": error: " << e.what() << "\n";
    return 3;
  }
}

namespace detail {
CLI::Option* add_choice_option(CLI::App& app, const std::string& flag, const std::string& help,
                               const std::string& default_name,
                               std::function<void(const std::string&)> set) {
  return app.add_option_function<std::string>(flag, std::move(set), help)
      ->default_str(default_name);
}
}  // namespace detail

void DeviceFlag::add_to(CLI::App& app) {
  add_enum_option(app, "--device", choice, "auto | cpu | cuda (auto: the GPU if there is one)");
}

std::unique_ptr<Backend> DeviceFlag::select(std::ostream& log) const {
  return select_backend(choice, log);
}

CLI::Option* add_seed_option(CLI::App& app, uint64_t& seed, const std::string& help) {
  const auto check = [](std::string& text) -> std::string {
    errno = 0;
    const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
    if (digits) std::strtoull(text.c_str(), nullptr, 10);
    if (digits && errno != ERANGE) return "";
    return "must be an integer in [0, 18446744073709551615] (2^64 - 1), got '" + text + "'";
  };
  return app.add_option("--seed", seed, help)
      ->capture_default_str()
      ->check(CLI::Validator(check, "UINT64"));
}

double float_as_decimal(float f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", f);  // 7 significant digits: float32's precision
  return std::strtod(buf, nullptr);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void write_progress_line(std::ostream& log, const std::string& line, bool last, bool tty) {
  if (tty)
    log << "\r" << line << "\033[K" << (last ? "\n" : "") << std::flush;
  else
    log << line << "\n";
}

ProgressFn throttled_progress(std::ostream& log, const std::string& prefix, bool tty,
                              double every_seconds) {
  struct State {
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    double last = 0;    // when the last line was written
    std::string phase;  // the phase of the last line while it is open ("" when none is)
  };
  auto state = std::make_shared<State>();
  return [&log, prefix, tty, every_seconds, state](const std::string& phase, long long done,
                                                   long long total) {
    const double now = seconds_since(state->t0);
    const bool closing = done >= total;
    // A closing line only ends an open line of its phase; any other line waits for the interval
    // since the last one (since the start for the first: a short run prints nothing).
    if (closing ? state->phase != phase : now - state->last < every_seconds) return;
    if (!state->phase.empty() && state->phase != phase && tty) log << "\n";  // end the old line
    state->last = now;
    state->phase = closing ? std::string() : phase;
    char line[160];
    std::snprintf(line, sizeof line, "%s: %s %lld/%lld  %.1f s", prefix.c_str(), phase.c_str(),
                  done, total, now);
    write_progress_line(log, line, closing, tty);
  };
}

namespace {

// MemAvailable from /proc/meminfo in bytes (0 when unknown: the check is then skipped).
double host_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024.0;
  return 0.0;
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

void check_memory(double bytes, const Backend& backend, const std::string& what,
                  const std::string& remedy) {
  const double host = host_available_bytes();
  LK_INPUT_CHECK(host <= 0 || bytes <= host, what << " needs about " << gib(bytes)
                                                  << ", more than the " << gib(host)
                                                  << " of memory available: " << remedy);
  if (backend.kind() != DeviceKind::Cuda) return;
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();  // a failed query must not leave a sticky error for the next CUDA call
    return;
  }
  LK_INPUT_CHECK(bytes <= static_cast<double>(free_b),
                 what << " needs about " << gib(bytes) << ", more than the "
                      << gib(static_cast<double>(free_b)) << " free on the GPU: " << remedy);
}

ModelFile read_checkpoint(const std::string& path, const std::string& kind, const std::string& what,
                          const nlohmann::json& identity, const std::string& may_change) {
  ModelFile f = read_model_file(path);
  LK_INPUT_CHECK(f.header.value("kind", "") == kind && f.header.contains("run"),
                 "'" << path << "' is not " << what);
  LK_INPUT_CHECK(f.header.at("run") == identity,
                 "checkpoint '" << path << "' was written by a run with other settings ("
                                << f.header.at("run").dump() << "); resume with the same flags "
                                << "(only " << may_change << " may change) or drop --resume");
  return f;
}

}  // namespace latentkit
