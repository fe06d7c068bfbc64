/** The models import nn through here so each file reads like the seed's `from torch import nn`. */
export * as nn from '../nn/index.js';
