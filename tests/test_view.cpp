// Typed matrix views (latentkit/core/view.h) and the views of owning arrays (Array<T>::view in
// latentkit/core/backend.h): shapes are checked against the memory behind them, the memory tag
// travels with the view and through the const conversion, and expect_on names the view, both
// memories and what to do.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/core/view.h"

namespace latentkit {
namespace {

TEST(MatrixView, HostViewChecksTheVectorSize) {
  std::vector<float> v(12, 0.0f);
  const MatrixView<float> m = host_view(v, 3, 4);
  EXPECT_EQ(m.data, v.data());
  EXPECT_EQ(m.rows, 3);
  EXPECT_EQ(m.cols, 4);
  EXPECT_EQ(m.where, Memory::Host);
  EXPECT_EQ(m.elements(), 12u);
  EXPECT_THROW(host_view(v, 5, 3), Error);    // 15 > 12
  EXPECT_THROW(host_view(v, 2, 4), Error);    // 8 != 12: a view of a vector is the whole vector
  EXPECT_THROW(host_view(v, -3, -4), Error);  // negative shapes, even with a matching product
  const std::vector<float>& cv = v;
  const MatrixView<const float> c = host_view(cv, 4, 3);
  EXPECT_EQ(c.rows, 4);
}

TEST(MatrixView, ConstConversionKeepsEverything) {
  float buf[6] = {};
  const MatrixView<float> m(buf, 2, 3, Memory::Cuda);
  const MatrixView<const float> c = m;
  EXPECT_EQ(c.data, buf);
  EXPECT_EQ(c.rows, 2);
  EXPECT_EQ(c.cols, 3);
  EXPECT_EQ(c.where, Memory::Cuda);
  EXPECT_THROW(MatrixView<float>(nullptr, 2, 3, Memory::Host), Error);  // null data, 6 elements
  EXPECT_TRUE(MatrixView<float>(nullptr, 0, 3, Memory::Host).empty());  // empty is fine
}

TEST(MatrixView, ArrayViewsCarryTheBackendsMemoryAndFit) {
  auto cpu = make_cpu_backend();
  EXPECT_EQ(cpu->memory(), Memory::Host);
  Array<float> a = cpu->alloc(10);
  EXPECT_EQ(a.where(), Memory::Host);
  const MatrixView<float> v = a.view(2, 5);
  EXPECT_EQ(v.where, Memory::Host);
  EXPECT_EQ(v.data, a.data());
  EXPECT_NO_THROW(a.view(3, 3));  // a prefix of the array is a valid view
  EXPECT_THROW(a.view(3, 4), Error);
  // The tag survives a move.
  Array<float> b = std::move(a);
  EXPECT_EQ(b.where(), Memory::Host);
}

TEST(MatrixView, ExpectOnNamesTheViewAndTheRemedy) {
  float buf[4] = {};
  const MatrixView<const float> dev(buf, 2, 2, Memory::Cuda);
  EXPECT_NO_THROW(expect_on(Memory::Cuda, dev, "X"));
  try {
    expect_on(Memory::Host, dev, "kmeans: X");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("kmeans: X is in CUDA device memory, but the backend computes in host "
                       "memory: allocate or upload it with that backend"),
              std::string::npos)
        << msg;
  }
}

}  // namespace
}  // namespace latentkit
