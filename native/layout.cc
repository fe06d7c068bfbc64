// Reorders of NCHW activations between plain and oneDNN's channel-blocked layouts
// (nChw8c / nChw16c), for the JS side's conversion of blocked buffers back to
// row-major (the Layout on a buffer's Storage, src/backend/cpu/common.ts) and for
// kernels that need another layout.
#include "common.h"

namespace tl {
namespace {

using namespace dnnl;

// reorderActivation(src, srcBlock, dst, dstBlock, n, c, h, w)
Napi::Value ReorderActivation(const Napi::CallbackInfo &info) {
  const int sb = blockArg(info, 1), db = blockArg(info, 3);
  const int64_t n = i64(info, 4), c = i64(info, 5), h = i64(info, 6), w = i64(info, 7);
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad activation dims");
  for (int b : {sb, db}) {
    if (b && c % b != 0) throw Napi::RangeError::New(info.Env(), "torchlet cpu: channels are not a multiple of the block");
  }
  const int64_t total = n * c * h * w;
  float *src = f32(info, 0, total, "src");
  float *dst = f32(info, 2, total, "dst");
  Key k(90);
  k << n << c << h << w << sb << db;
  Plan &p = cachedSized(k, total, [&](Plan &p) {
    memory::desc s = actMd({n, c, h, w}, sb), d = actMd({n, c, h, w}, db);
    memory ms = p.user(0, s), md = p.user(1, d);
    p.addReorder(ms, md);
  });
  void *ptrs[] = {src, dst};
  p.run(ptrs);
  return info.Env().Undefined();
}

}  // namespace

void initLayout(Napi::Env env, Napi::Object exports) {
  exports.Set("reorderActivation", Napi::Function::New(env, ReorderActivation, "reorderActivation"));
}

}  // namespace tl
