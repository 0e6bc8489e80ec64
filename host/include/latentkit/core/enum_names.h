// The one mapping between an enum and its names on the command line, in summary.json and in model
// file headers. Each enum that has names specialises EnumNames once, beside the enum:
//
//   template <> struct EnumNames<GmmCovariance> {
//     static constexpr const char* flag = "--covariance";   // the flag its errors name by default
//     static constexpr EnumName<GmmCovariance> table[] = {{GmmCovariance::Full, "full"},
//                                                          {GmmCovariance::Diag, "diag"}};
//   };
//
// The first entry of a value is its name; later entries of the same value are aliases that parse
// but are never printed or listed (DeviceChoice: "gpu" for "cuda").
//  - enum_name(e): the name ("full"); "?" for a value missing from the table.
//  - parse_enum<E>(text[, flag]): the value, or FlagError (exit 2, "see --help") reading
//    "--covariance must be full or diag, got 'spherical'".
//  - parse_enum_in<E>(text, where): the same for a name read from a file (a model header): an
//    InputError (exit 1) "<where> must be full or diag, got 'spherical'".
//  - enum_choices<E>(sep): "full | diag" for --help texts.
// Command-line flags bind an enum directly with add_enum_option (latentkit/pipelines/app.h), so the
// check runs in the parser, before any file is read. Tests: tests/test_enum_names.cpp.
// Plain C++17 (kernels/dense.cuh includes op_types.h, which specialises this for nvcc and the
// emulated tree).
#pragma once
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "latentkit/core/check.h"

namespace latentkit {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

template <class E>
struct EnumNames;  // specialised beside each enum (see the top of this file)

namespace detail {

template <class E>
constexpr bool enum_is_alias(std::size_t i) {
  for (std::size_t j = 0; j < i; ++j)
    if (EnumNames<E>::table[j].value == EnumNames<E>::table[i].value) return true;
  return false;
}

// "a, b or c" (sep_last " or ") or "a | b | c" (sep and sep_last " | "), aliases left out.
template <class E>
std::string enum_list(const char* sep, const char* sep_last) {
  constexpr std::size_t count = std::size(EnumNames<E>::table);
  std::size_t names = 0;
  for (std::size_t i = 0; i < count; ++i) names += !enum_is_alias<E>(i);
  std::string out;
  std::size_t listed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (enum_is_alias<E>(i)) continue;
    if (listed > 0) out += (listed + 1 == names) ? sep_last : sep;
    out += EnumNames<E>::table[i].name;
    ++listed;
  }
  return out;
}

template <class E>
std::string enum_refusal(const std::string& what, std::string_view text) {
  return what + " must be " + enum_list<E>(", ", " or ") + ", got '" + std::string(text) + "'";
}

}  // namespace detail

template <class E>
const char* enum_name(E e) {
  for (const auto& entry : EnumNames<E>::table)
    if (entry.value == e) return entry.name;
  return "?";
}

template <class E>
std::optional<E> find_enum(std::string_view text) {
  for (const auto& entry : EnumNames<E>::table)
    if (text == entry.name) return entry.value;
  return std::nullopt;
}

template <class E>
E parse_enum(std::string_view text, const std::string& flag = EnumNames<E>::flag) {
  if (auto e = find_enum<E>(text)) return *e;
  throw FlagError(detail::enum_refusal<E>(flag, text));
}

template <class E>
E parse_enum_in(std::string_view text, const std::string& where) {
  if (auto e = find_enum<E>(text)) return *e;
  throw InputError(detail::enum_refusal<E>(where, text));
}

template <class E>
std::string enum_choices(const char* sep = " | ") {
  return detail::enum_list<E>(sep, sep);
}

}  // namespace latentkit
