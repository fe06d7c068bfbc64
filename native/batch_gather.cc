// DataLoader batches assembled natively (data/batch.ts uses this through node/setup.ts).
#include <string>

#include "common.h"

namespace tl {
namespace {

/**
 * gatherRowsLut(images u8, indices i32, rowLen, lut f32[256], out f32): out's row b is
 * lut[images[indices[b] * rowLen + i]] for each i: a DataLoader batch (ToTensor, Normalize as a
 * table) assembled at memory speed rather than a JavaScript loop's 2 ns a value.
 */
Napi::Value GatherRowsLut(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "torchlet cpu: gatherRowsLut expects the images as a Uint8Array");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, "torchlet cpu: gatherRowsLut expects the indices as an Int32Array");
  Napi::Uint8Array images = info[0].As<Napi::Uint8Array>();
  Napi::Int32Array indices = info[1].As<Napi::Int32Array>();
  int64_t rowLen = i64(info, 2);
  const float *lut = f32(info, 3, 256, "lut");
  const size_t n = indices.ElementLength();
  if (rowLen < 1) throw Napi::RangeError::New(env, "torchlet cpu: gatherRowsLut needs rowLen >= 1");
  float *out = f32(info, 4, n * static_cast<size_t>(rowLen), "out");
  const size_t rows = images.ElementLength() / static_cast<size_t>(rowLen);
  const uint8_t *src = images.Data();
  const int32_t *idx = indices.Data();
  for (size_t b = 0; b < n; b++) {
    if (idx[b] < 0 || static_cast<size_t>(idx[b]) >= rows)
      throw Napi::RangeError::New(env, "sample index " + std::to_string(idx[b]) + " out of range [0, " + std::to_string(rows) + ")");
  }
  for (size_t b = 0; b < n; b++) {
    const uint8_t *row = src + static_cast<size_t>(idx[b]) * rowLen;
    float *o = out + b * rowLen;
    for (int64_t i = 0; i < rowLen; i++) o[i] = lut[row[i]];
  }
  return env.Undefined();
}

}  // namespace

void initBatchGather(Napi::Env env, Napi::Object exports) {
  exports.Set("gatherRowsLut", Napi::Function::New(env, GatherRowsLut, "gatherRowsLut"));
}

}  // namespace tl
