// Typed, non-owning views of row-major matrices that carry where their memory lives, in the spirit
// of RAFT/cuVS's device_matrix_view: a family entry point takes views instead of (pointer, n, d)
// and checks with expect_on() that every view lives where its backend computes, so a host pointer
// handed to the CUDA path (or the reverse) is a clear error, not a crash or silent garbage.
//  - Memory: Host (the CPU backend's memory, std::vector) or Cuda (device memory).
//  - MatrixView<T>: data, rows, cols (contiguous rows: element (i, j) at data[i * cols + j]) and
//    where. MatrixView<T> converts to MatrixView<const T>.
//  - host_view(vector, rows, cols): a view of a std::vector, its size checked.
//  - expect_on(memory, view, what): throws Error naming `what`, both memories and what to do.
// Owning arrays give views of themselves: Array<T>::view(rows, cols) (latentkit/core/backend.h).
// Tests: tests/test_view.cpp. Plain C++17 (no CUDA header).
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "latentkit/core/check.h"

namespace latentkit {

enum class Memory : uint8_t { Host, Cuda };

inline const char* memory_name(Memory m) { return m == Memory::Host ? "host" : "CUDA device"; }

template <class T>
struct MatrixView {
  T* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  Memory where = Memory::Host;

  MatrixView() = default;
  MatrixView(T* p, int64_t r, int64_t c, Memory w) : data(p), rows(r), cols(c), where(w) {
    LK_CHECK(r >= 0 && c >= 0, "MatrixView: negative shape " << r << " x " << c);
    LK_CHECK(p != nullptr || r * c == 0, "MatrixView: null data for " << r << " x " << c);
  }
  // Read-only view of the same memory (only for a view of non-const T: a view of const T is
  // already read-only).
  template <class U = T, class = std::enable_if_t<!std::is_const_v<U>>>
  operator MatrixView<const U>() const {
    return {data, rows, cols, where};
  }
  size_t elements() const { return static_cast<size_t>(rows) * static_cast<size_t>(cols); }
  bool empty() const { return rows == 0 || cols == 0; }
};

template <class T>
MatrixView<T> host_view(std::vector<T>& v, int64_t rows, int64_t cols) {
  LK_CHECK(rows >= 0 && cols >= 0 && v.size() == static_cast<size_t>(rows * cols),
           "host_view: a vector of " << v.size() << " values is not " << rows << " x " << cols);
  return {v.data(), rows, cols, Memory::Host};
}

template <class T>
MatrixView<const T> host_view(const std::vector<T>& v, int64_t rows, int64_t cols) {
  LK_CHECK(rows >= 0 && cols >= 0 && v.size() == static_cast<size_t>(rows * cols),
           "host_view: a vector of " << v.size() << " values is not " << rows << " x " << cols);
  return {v.data(), rows, cols, Memory::Host};
}

// The check every family entry makes for each view it is given. A mismatch is a programming error
// of the caller (Error, exit 3), never a user's: the message says which view and how to fix it.
template <class T>
void expect_on(Memory backend_memory, const MatrixView<T>& v, const char* what) {
  LK_CHECK(v.where == backend_memory,
           what << " is in " << memory_name(v.where) << " memory, but the backend computes in "
                << memory_name(backend_memory)
                << " memory: allocate or upload it with that backend (Backend::alloc/upload)");
}

}  // namespace latentkit
