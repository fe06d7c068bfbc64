// 2-D max / average pooling, forward and backward, on plain NCHW.
//
// Max-pool backward needs oneDNN's workspace (argmax positions). The forward
// can hand it back as an ArrayBuffer for the caller to keep next to y; when
// the backward gets none it recomputes the forward into scratch arenas.
#include "common.h"

namespace tl {
namespace {

using namespace dnnl;

struct Geom {
  int64_t kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
  int64_t prh, prw;
};

// kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow starting at argument i.
Geom geomArg(const Napi::CallbackInfo &info, size_t i) {
  Geom g{};
  int64_t *f[] = {&g.kind, &g.n, &g.c, &g.h, &g.w, &g.kh, &g.kw, &g.sh, &g.sw, &g.ph, &g.pw, &g.oh, &g.ow};
  for (size_t j = 0; j < 13; j++) *f[j] = i64(info, i + j);
  bool ok = g.kind >= 0 && g.kind <= 2 && g.n > 0 && g.c > 0 && g.h > 0 && g.w > 0 && g.kh > 0 && g.kw > 0 &&
            g.sh > 0 && g.sw > 0 && g.ph >= 0 && g.pw >= 0 && g.oh > 0 && g.ow > 0;
  if (!ok) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad pooling geometry");
  g.prh = padRight(g.h, g.kh, g.sh, g.ph, g.oh);
  g.prw = padRight(g.w, g.kw, g.sw, g.pw, g.ow);
  return g;
}

Key &addGeom(Key &k, const Geom &g) {
  return k << g.kind << g.n << g.c << g.h << g.w << g.kh << g.kw << g.sh << g.sw << g.ph << g.pw << g.oh << g.ow;
}

algorithm alg(const Geom &g) {
  return g.kind == 0 ? algorithm::pooling_max
                     : g.kind == 1 ? algorithm::pooling_avg_include_padding : algorithm::pooling_avg_exclude_padding;
}

memory::desc xMd(const Geom &g) { return memory::desc({g.n, g.c, g.h, g.w}, dt::f32, tag::nchw); }
memory::desc yMd(const Geom &g) { return memory::desc({g.n, g.c, g.oh, g.ow}, dt::f32, tag::nchw); }

pooling_forward::primitive_desc fwdPd(const Geom &g, prop_kind prop) {
  pooling_forward::desc d(prop, alg(g), xMd(g), yMd(g), {g.sh, g.sw}, {g.kh, g.kw}, {g.ph, g.pw}, {g.prh, g.prw});
  return pooling_forward::primitive_desc(d, baseAttr(), engine());
}

size_t workspaceBytes(const Geom &g) {
  if (g.kind != 0) return 0;
  return fwdPd(g, prop_kind::forward_training).workspace_desc().get_size();
}

// Workspace sizes are needed before the forward runs; cache them by geometry.
size_t cachedWorkspaceBytes(const Geom &g) {
  thread_local std::unordered_map<std::string, size_t> sizes;
  Key k(20);
  addGeom(k, g);
  auto it = sizes.find(k.s);
  if (it != sizes.end()) return it->second;
  size_t b = workspaceBytes(g);
  sizes.emplace(k.s, b);
  return b;
}

// pool2dForward(x, y, wantWorkspace, kind, n,c,h,w,kh,kw,sh,sw,ph,pw,oh,ow) -> ArrayBuffer | undefined
Napi::Value PoolForward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Geom g = geomArg(info, 3);
  bool wantWs = g.kind == 0 && flag(info, 2);
  float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *y = f32(info, 1, g.n * g.c * g.oh * g.ow, "y");
  Napi::ArrayBuffer ws;
  void *wsPtr = nullptr;
  if (wantWs) {
    size_t bytes = cachedWorkspaceBytes(g);
    ws = Napi::ArrayBuffer::New(env, bytes);
    wsPtr = ws.Data();
  }
  Key k(21);
  addGeom(k, g) << wantWs;
  Plan &p = cached(k, [&](Plan &p) {
    auto pd = fwdPd(g, wantWs ? prop_kind::forward_training : prop_kind::forward_inference);
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_SRC] = p.user(0, xMd(g));
    args[DNNL_ARG_DST] = p.user(1, yMd(g));
    if (wantWs) args[DNNL_ARG_WORKSPACE] = p.user(2, pd.workspace_desc());
    p.add(pooling_forward(pd), std::move(args), pd);
  });
  void *ptrs[] = {x, y, wsPtr};
  p.run(ptrs);
  if (wantWs) return ws;
  return env.Undefined();
}

// pool2dBackward(dy, dx, workspace|null, x|null, kind, n,c,h,w,kh,kw,sh,sw,ph,pw,oh,ow)
Napi::Value PoolBackward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Geom g = geomArg(info, 4);
  float *dy = f32(info, 0, g.n * g.c * g.oh * g.ow, "dy");
  float *dx = f32(info, 1, g.n * g.c * g.h * g.w, "dx");
  void *wsPtr = nullptr;
  float *x = nullptr;
  bool haveWs = false;
  if (g.kind == 0) {
    if (info[2].IsArrayBuffer()) {
      Napi::ArrayBuffer ws = info[2].As<Napi::ArrayBuffer>();
      if (ws.ByteLength() != cachedWorkspaceBytes(g)) {
        throw Napi::RangeError::New(env, "torchlet cpu: pooling workspace has the wrong size");
      }
      wsPtr = ws.Data();
      haveWs = true;
    } else {
      x = f32(info, 3, g.n * g.c * g.h * g.w, "x");
    }
  }
  Key k(22);
  addGeom(k, g) << haveWs;
  Plan &p = cached(k, [&](Plan &p) {
    auto hint = fwdPd(g, prop_kind::forward_training);
    pooling_backward::desc d(alg(g), xMd(g), yMd(g), {g.sh, g.sw}, {g.kh, g.kw}, {g.ph, g.pw}, {g.prh, g.prw});
    pooling_backward::primitive_desc pd(d, baseAttr(), engine(), hint);
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_DIFF_DST] = p.user(0, yMd(g));
    args[DNNL_ARG_DIFF_SRC] = p.user(1, xMd(g));
    if (g.kind == 0) {
      if (haveWs) {
        args[DNNL_ARG_WORKSPACE] = p.user(2, hint.workspace_desc());
      } else {
        // Recompute the forward to regenerate the argmax workspace.
        memory ws = p.temp(hint.workspace_desc());
        memory y = p.temp(hint.dst_desc());
        p.add(pooling_forward(hint), {{DNNL_ARG_SRC, p.user(3, xMd(g))}, {DNNL_ARG_DST, y}, {DNNL_ARG_WORKSPACE, ws}},
              hint);
        args[DNNL_ARG_WORKSPACE] = ws;
      }
    }
    p.add(pooling_backward(pd), std::move(args), pd);
  });
  void *ptrs[] = {dy, dx, wsPtr, x};
  p.run(ptrs);
  return env.Undefined();
}

}  // namespace

void initPool(Napi::Env env, Napi::Object exports) {
  exports.Set("pool2dForward", Napi::Function::New(env, PoolForward, "pool2dForward"));
  exports.Set("pool2dBackward", Napi::Function::New(env, PoolBackward, "pool2dBackward"));
}

}  // namespace tl
