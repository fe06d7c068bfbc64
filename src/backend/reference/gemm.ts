/**
 * Single-precision GEMM in plain TypeScript: C[M,N] (+)= op(A) · op(B).
 *
 * Why it looks like this: V8 gives no SIMD, so the wins are (1) the loop order
 * that streams contiguous memory in the innermost loop for each transpose
 * case, (2) updating a row of C with four rows of B at once, which quarters
 * the loads and stores of C, and (3) blocking the columns so those four B
 * rows and the C row stay in L1/L2 while they are reused.
 *
 * Offsets (aOff, bOff, cOff) let callers address one image of a batch without
 * allocating subarrays in the hot loop.
 */
const COL_BLOCK = 1024;

export function gemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: Float32Array, aOff: number, B: Float32Array, bOff: number,
  C: Float32Array, cOff: number, accumulate: boolean,
): void {
  if (!accumulate) C.fill(0, cOff, cOff + M * N);
  if (transB) {
    if (transA) {
      // Rare (only user matmuls of two transposed operands): make A row-major first.
      const At = new Float32Array(M * K);
      for (let k = 0; k < K; k++) for (let i = 0; i < M; i++) At[i * K + k] = A[aOff + k * M + i];
      gemmNT(M, N, K, At, 0, B, bOff, C, cOff);
    } else gemmNT(M, N, K, A, aOff, B, bOff, C, cOff);
    return;
  }
  // A(i,k) lives at aOff + i*sai + k*sak in both remaining cases.
  const sai = transA ? 1 : K;
  const sak = transA ? M : 1;
  for (let j0 = 0; j0 < N; j0 += COL_BLOCK) {
    const j1 = Math.min(N, j0 + COL_BLOCK);
    let i = 0;
    // Two rows of C at a time: each B element loaded feeds two multiply-adds.
    for (; i + 2 <= M; i += 2) {
      const c0 = cOff + i * N;
      const c1 = c0 + N;
      const a = aOff + i * sai;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const ak = a + k * sak;
        const x0 = A[ak], x1 = A[ak + sak], x2 = A[ak + 2 * sak], x3 = A[ak + 3 * sak];
        const y0 = A[ak + sai], y1 = A[ak + sai + sak], y2 = A[ak + sai + 2 * sak], y3 = A[ak + sai + 3 * sak];
        const b0 = bOff + k * N;
        const b1 = b0 + N;
        const b2 = b1 + N;
        const b3 = b2 + N;
        for (let j = j0; j < j1; j++) {
          const v0 = B[b0 + j], v1 = B[b1 + j], v2 = B[b2 + j], v3 = B[b3 + j];
          C[c0 + j] += x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3;
          C[c1 + j] += y0 * v0 + y1 * v1 + y2 * v2 + y3 * v3;
        }
      }
      for (; k < K; k++) {
        const x0 = A[a + k * sak];
        const y0 = A[a + sai + k * sak];
        const b0 = bOff + k * N;
        for (let j = j0; j < j1; j++) {
          const v = B[b0 + j];
          C[c0 + j] += x0 * v;
          C[c1 + j] += y0 * v;
        }
      }
    }
    for (; i < M; i++) {
      const c = cOff + i * N;
      const a = aOff + i * sai;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const a0 = A[a + k * sak];
        const a1 = A[a + (k + 1) * sak];
        const a2 = A[a + (k + 2) * sak];
        const a3 = A[a + (k + 3) * sak];
        const b0 = bOff + k * N;
        const b1 = b0 + N;
        const b2 = b1 + N;
        const b3 = b2 + N;
        for (let j = j0; j < j1; j++) {
          C[c + j] += a0 * B[b0 + j] + a1 * B[b1 + j] + a2 * B[b2 + j] + a3 * B[b3 + j];
        }
      }
      for (; k < K; k++) {
        const a0 = A[a + k * sak];
        const b0 = bOff + k * N;
        for (let j = j0; j < j1; j++) C[c + j] += a0 * B[b0 + j];
      }
    }
  }
}

/** C[i,j] += dot(A[i,:], B[j,:]); four columns at a time so each A element is loaded once per four dots. */
function gemmNT(M: number, N: number, K: number, A: Float32Array, aOff: number, B: Float32Array, bOff: number, C: Float32Array, cOff: number): void {
  let i = 0;
  // 2×4 blocks: per k, two A loads and four B loads feed eight multiply-adds.
  for (; i + 2 <= M; i += 2) {
    const a0 = aOff + i * K;
    const a1 = a0 + K;
    const c0 = cOff + i * N;
    const c1 = c0 + N;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const b0 = bOff + j * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let k = 0; k < K; k++) {
        const u = A[a0 + k];
        const v = A[a1 + k];
        const w0 = B[b0 + k], w1 = B[b1 + k], w2 = B[b2 + k], w3 = B[b3 + k];
        s00 += u * w0; s01 += u * w1; s02 += u * w2; s03 += u * w3;
        s10 += v * w0; s11 += v * w1; s12 += v * w2; s13 += v * w3;
      }
      C[c0 + j] += s00; C[c0 + j + 1] += s01; C[c0 + j + 2] += s02; C[c0 + j + 3] += s03;
      C[c1 + j] += s10; C[c1 + j + 1] += s11; C[c1 + j + 2] += s12; C[c1 + j + 3] += s13;
    }
    for (; j < N; j++) {
      const b0 = bOff + j * K;
      let s0 = 0, s1 = 0;
      for (let k = 0; k < K; k++) {
        const w = B[b0 + k];
        s0 += A[a0 + k] * w;
        s1 += A[a1 + k] * w;
      }
      C[c0 + j] += s0;
      C[c1 + j] += s1;
    }
  }
  for (; i < M; i++) {
    const a = aOff + i * K;
    const c = cOff + i * N;
    for (let j = 0; j < N; j++) {
      const b0 = bOff + j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[a + k] * B[b0 + k];
      C[c + j] += s;
    }
  }
}
