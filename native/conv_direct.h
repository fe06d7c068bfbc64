// Direct (im2col + packed matrix product) convolutions for few-channel shapes; see conv_direct.cc.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tl {

/**
 * An NCHW activation stored plain (block 0) or channel-blocked as oneDNN's nChw8c / nChw16c (block 8
 * or 16: element (n, ch, i) at ((n * C/block + ch/block) * plane + i) * block + ch % block). The
 * backward plans read dy this way because the forward pass of the layer above may have left its
 * output blocked.
 */
struct Act {
  const float *p;
  int64_t c, plane, block;
  /** Element 0 of plane ch of image n; its elements are step() apart. */
  const float *planeAt(int64_t n, int64_t ch) const {
    if (block == 0) return p + (n * c + ch) * plane;
    return p + (n * (c / block) + ch / block) * plane * block + ch % block;
  }
  int64_t step() const { return block == 0 ? 1 : block; }
};

struct DirectConv {
  int64_t n, c, h, w, oc, kh, kw, sh, sw, ph, pw, oh, ow;
};

/** Shapes the direct plan is offered for (the tuner still times it against oneDNN's). */
bool directConvEligible(const DirectConv &g);
/** y = act(conv(x, w) + bias) (bias may be null); act 0 none, 1 relu, 2 sigmoid, 3 tanh. */
void directConvForward(const DirectConv &g, const float *x, const float *w, const float *bias, float *y, int act);
/** dy may be channel-blocked (dyBlock 8 or 16, oneDNN's nChw8c / nChw16c); dx is written plain. */
void directConvBackwardData(const DirectConv &g, const float *dy, int dyBlock, const float *w, float *dx);
/** Whether directConvBackwardWeight takes x channel-blocked (only its stride-1 plan does; dy may always be). */
bool directWeightTakesBlockedX(const DirectConv &g);
/** dw (and db when not null) are overwritten; x and dy may be channel-blocked as directWeightTakesBlockedX says. */
void directConvBackwardWeight(const DirectConv &g, const float *x, int xBlock, const float *dy, int dyBlock, float *dw,
                              float *db);

/**
 * Whether directConvForwardAvgPool and directConvBackwardWeightAvgPool take this shape and
 * activation (0 none, 1 relu, 2 sigmoid): the stride-1 plan that works image by image (not the
 * lanes kernels), with an activation it applies per image.
 */
bool directAvgPoolFusable(const DirectConv &g, int act);
/**
 * directConvForward (y = act(conv(x, w) + bias), written as it does), and pooled = the 2x2 stride-2
 * average pool of y ([n][oc][oh/2][ow/2]), computed per image while y is in cache.
 */
void directConvForwardAvgPool(const DirectConv &g, const float *x, const float *w, const float *bias, float *y, int act,
                              float *pooled);
/**
 * The weight (and bias, when db is not null) gradient of directConvForwardAvgPool's pooled output,
 * from its gradient dPooled and the activation's output y: the convolution's output gradient
 * act'(y) * (the pool's gradient) is made per image in cache, never written out. x plain.
 */
void directConvBackwardWeightAvgPool(const DirectConv &g, const float *x, const float *y, const float *dPooled, int act,
                                     float *dw, float *db);

/** Shapes the lanes plans can take (conv_lanes.cc: stride 1, images interleaved 16 to a vector). */
bool lanesConvEligible(const DirectConv &g);
/**
 * Whether the direct plan hands this shape to the lanes kernels: eligible shapes of 8 or more images
 * by default; setLanesMode(0) never (TORCHLET_CONV_LANES=0 at start), setLanesMode(1) every eligible
 * shape whatever its batch (for tests). Returns the previous mode (-1 default).
 */
bool lanesConvChosen(const DirectConv &g);
int setLanesMode(int mode);
/** lanesConvChosen, and also each output value in 64+ products (forward and backward data transpose both ways). */
bool lanesConvChosenBothWays(const DirectConv &g);
/**
 * Free the buffers every thread keeps for the lanes kernels (they grow to the largest shape run).
 * Call between kernels, from the JavaScript thread: the tuner does when a shape's race was lost by
 * the direct plan, whose timing would otherwise leave VGG's 224x224 frames resident (150 MiB).
 */
void releaseLaneBuffers();
/** Bytes those buffers hold now, over all threads (for tests). */
size_t laneBufferBytes();
/** As directConvForward (stride 1), 16 images per vector. */
void lanesConvForward(const DirectConv &g, const float *x, const float *w, const float *bias, float *y, int act);
/** As directConvBackwardData (stride 1, ph < kh and pw < kw), 16 images per vector; dy plain or nChw16c. */
void lanesConvBackwardData(const DirectConv &g, const float *dy, int dyBlock, const float *w, float *dx);
/** As directConvBackwardWeight, with 16 images per vector; x and dy may be plain or channel-blocked. */
void lanesConvBackwardWeight(const DirectConv &g, const float *x, int xBlock, const float *dy, int dyBlock, float *dw,
                             float *db);

}  // namespace tl
