// Batched matrix multiply: c[b] = op(a[b]) · op(b[b]); transposes are expressed as strides.
#include "common.h"

namespace tl {
namespace {

using namespace dnnl;

// matmul(a, b, c, batch, m, k, n, transA, transB)
Napi::Value Matmul(const Napi::CallbackInfo &info) {
  int64_t batch = i64(info, 3), m = i64(info, 4), k = i64(info, 5), n = i64(info, 6);
  bool ta = flag(info, 7), tb = flag(info, 8);
  if (batch <= 0 || m <= 0 || k <= 0 || n <= 0) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad matmul shape");
  float *a = f32(info, 0, batch * m * k, "a");
  float *b = f32(info, 1, batch * k * n, "b");
  float *c = f32(info, 2, batch * m * n, "c");
  Key key(80);
  key << batch << m << k << n << ta << tb;
  // Below ~1M multiply-adds one thread is faster: waking the OpenMP team between kernels costs more
  // than the split saves. The threshold was 16M, measured on an earlier 2-core VM (LeNet-BN's nine
  // matmuls 1.0 ms a step on one thread, 1.9 ms on two); on the Zen 5 VM of 2026-12-02 splitting
  // LeNet's fully connected layers (2.6M-12M multiply-adds) over two threads gave a higher median
  // in 6 alternating pairs each: lenet 39.3k against 34.8k ex/s, lenet-bn 32.5k against 30.3k.
  const int64_t work = batch * m * k * n;
  Plan &p = cachedSized(key, work < (int64_t{1} << 20) ? 0 : work, [&](Plan &p) {
    // a is [batch, m, k] (or stored [batch, k, m]); b is [batch, k, n] (or stored [batch, n, k]).
    memory::desc amd({batch, m, k}, dt::f32, ta ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
    memory::desc bmd({batch, k, n}, dt::f32, tb ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
    memory::desc cmd({batch, m, n}, dt::f32, memory::dims{m * n, n, 1});
    matmul::desc d(amd, bmd, cmd);
    matmul::primitive_desc pd(d, baseAttr(), engine());
    p.add(matmul(pd), {{DNNL_ARG_SRC, p.user(0, amd)}, {DNNL_ARG_WEIGHTS, p.user(1, bmd)}, {DNNL_ARG_DST, p.user(2, cmd)}},
          pd);
  });
  void *ptrs[] = {a, b, c};
  p.run(ptrs);
  return info.Env().Undefined();
}

}  // namespace

void initMatmul(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
}

}  // namespace tl
