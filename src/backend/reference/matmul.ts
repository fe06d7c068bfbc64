import type { Buf, RowMajorKernels, MatmulDesc } from '../kernels.js';
import { gemm } from './gemm.js';

function matmul(a: Buf, b: Buf, d: MatmulDesc): Buf {
  const { batch, m, k, n } = d;
  const out = new Float32Array(batch * m * n);
  for (let i = 0; i < batch; i++) {
    gemm(d.transA, d.transB, m, n, k, a, i * m * k, b, i * k * n, out, i * m * n, true);
  }
  return out;
}

export const matmulKernels: Pick<RowMajorKernels, 'matmul'> = { matmul };
