// Fréchet distance between two Gaussians fitted to feature sets (the "FID" formula):
//   d² = |μ1 − μ2|² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½)
// in plain JS on row-major Float64Arrays. Feature sizes here are small (64), so a Jacobi
// eigensolver is exact enough and needs no library.

export interface Gaussian {
  mean: Float64Array;
  /** d×d, row-major. */
  cov: Float64Array;
  dim: number;
}

/** Mean and (n−1)-normalised covariance of n rows of `dim` features. */
export function fitGaussian(rows: Float32Array | Float64Array, dim: number): Gaussian {
  const n = rows.length / dim;
  if (!Number.isInteger(n) || n < 2) throw new Error(`need at least 2 feature rows of size ${dim}, got ${rows.length} values`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j]! += rows[i * dim + j]!;
  for (let j = 0; j < dim; j++) mean[j]! /= n;
  const cov = new Float64Array(dim * dim);
  const c = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) c[j] = rows[i * dim + j]! - mean[j]!;
    for (let a = 0; a < dim; a++) {
      const ca = c[a]!;
      if (ca === 0) continue;
      for (let b = a; b < dim; b++) cov[a * dim + b]! += ca * c[b]!;
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b]! / (n - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { mean, cov, dim };
}

/** Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: values and column vectors. */
export function symmetricEigen(m: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(m);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cs = 1 / Math.sqrt(t * t + 1);
        const sn = t * cs;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = cs * akp - sn * akq;
          a[k * n + q] = sn * akp + cs * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = cs * apk - sn * aqk;
          a[q * n + k] = sn * apk + cs * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = cs * vkp - sn * vkq;
          v[k * n + q] = sn * vkp + cs * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += aik * b[k * n + j]!;
    }
  }
  return out;
}

/** Square root of a symmetric PSD matrix (tiny negative eigenvalues from round-off are zeroed). */
export function sqrtPsd(m: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(m, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt(Math.max(0, values[k]!));
    if (s === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k]! * s;
      for (let j = 0; j < n; j++) out[i * n + j]! += vik * vectors[j * n + k]!;
    }
  }
  return out;
}

/**
 * Fréchet distance (the squared form, as FID reports it). Tr((Σ1Σ2)^½) is computed as
 * Tr((A Σ2 A)^½) with A = Σ1^½, which is symmetric PSD, so no complex square roots are needed.
 */
export function frechetDistance(g1: Gaussian, g2: Gaussian): number {
  const n = g1.dim;
  if (g2.dim !== n) throw new Error(`feature sizes differ: ${n} vs ${g2.dim}`);
  let meanTerm = 0;
  for (let i = 0; i < n; i++) meanTerm += (g1.mean[i]! - g2.mean[i]!) ** 2;
  const a = sqrtPsd(g1.cov, n);
  const inner = matmul(matmul(a, g2.cov, n), a, n);
  // Symmetrise away round-off before the eigensolver.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = (inner[i * n + j]! + inner[j * n + i]!) / 2;
      inner[i * n + j] = v;
      inner[j * n + i] = v;
    }
  }
  const { values } = symmetricEigen(inner, n);
  let trSqrt = 0;
  for (const v of values) trSqrt += Math.sqrt(Math.max(0, v));
  let tr = 0;
  for (let i = 0; i < n; i++) tr += g1.cov[i * n + i]! + g2.cov[i * n + i]!;
  return Math.max(0, meanTerm + tr - 2 * trSqrt);
}

/**
 * Class coverage: entropy (bits) of the histogram of predicted classes. log2(10) ≈ 3.32 means every
 * digit class is generated equally often; a collapsed generator that draws one digit scores 0.
 */
export function classEntropy(predicted: ArrayLike<number>, classes: number): number {
  const counts = new Float64Array(classes);
  for (let i = 0; i < predicted.length; i++) counts[predicted[i]!]!++;
  let h = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / predicted.length;
    h -= p * Math.log2(p);
  }
  return h;
}
