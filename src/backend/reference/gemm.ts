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
    for (let i = 0; i < M; i++) {
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
  for (let i = 0; i < M; i++) {
    const a = aOff + i * K;
    const c = cOff + i * N;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const b0 = bOff + j * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const av = A[a + k];
        s0 += av * B[b0 + k];
        s1 += av * B[b1 + k];
        s2 += av * B[b2 + k];
        s3 += av * B[b3 + k];
      }
      C[c + j] += s0;
      C[c + j + 1] += s1;
      C[c + j + 2] += s2;
      C[c + j + 3] += s3;
    }
    for (; j < N; j++) {
      const b0 = bOff + j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[a + k] * B[b0 + k];
      C[c + j] += s;
    }
  }
}
