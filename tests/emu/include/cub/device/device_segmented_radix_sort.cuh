// Emulated-GPU build: CUB's segmented radix sort of keys, as a stable sort of each segment on the
// bits [begin_bit, end_bit) (what a radix sort orders by), queued on the stream.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "lkemu/runtime.h"

namespace cub {
struct DeviceSegmentedRadixSort {
  template <class Key, class OffsetIt>
  static cudaError_t SortKeys(void* d_temp_storage, size_t& temp_storage_bytes,
                              const Key* d_keys_in, Key* d_keys_out, int num_items,
                              int num_segments, OffsetIt d_begin_offsets, OffsetIt d_end_offsets,
                              int begin_bit = 0, int end_bit = sizeof(Key) * 8,
                              cudaStream_t stream = nullptr) {
    if (d_temp_storage == nullptr) {  // the size query
      temp_storage_bytes = 1;
      return cudaSuccess;
    }
    if (num_items < 0 || num_segments < 0 || begin_bit < 0 || end_bit > int(sizeof(Key) * 8) ||
        begin_bit >= end_bit)
      return cudaErrorInvalidValue;
    lkemu::require_device_range(d_temp_storage, temp_storage_bytes, "SortKeys temp storage");
    lkemu::require_device_range(d_keys_in, sizeof(Key) * size_t(num_items), "SortKeys keys_in");
    lkemu::require_device_range(d_keys_out, sizeof(Key) * size_t(num_items), "SortKeys keys_out");
    lkemu::enqueue(stream, "cub::DeviceSegmentedRadixSort::SortKeys", [=] {
      using U = std::make_unsigned_t<Key>;
      const int bits = end_bit - begin_bit;
      const U mask = bits >= int(sizeof(U) * 8) ? U(~U(0)) : U((U(1) << bits) - 1);
      auto digit = [&](Key k) { return U(U(k) >> begin_bit) & mask; };
      for (int s = 0; s < num_segments; ++s) {
        const int b = d_begin_offsets[s], e = d_end_offsets[s];
        if (e <= b) continue;
        if (b < 0 || e > num_items)
          lkemu::device_fault("SortKeys: segment %d is [%d, %d) of %d items", s, b, e, num_items);
        std::copy(d_keys_in + b, d_keys_in + e, d_keys_out + b);
        std::stable_sort(d_keys_out + b, d_keys_out + e,
                         [&](Key x, Key y) { return digit(x) < digit(y); });
      }
    });
    return cudaSuccess;
  }
};
}  // namespace cub
