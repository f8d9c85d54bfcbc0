// Optimizer steps over float32 parameter tensors, element by element, in the
// order and with the roundings of torch's single-tensor CPU code (torch 1.13,
// torch/optim/sgd.py, adam.py, adamw.py): every torch op rounds to float32;
// `a.add(b, alpha=s)` is one fused multiply-add (torch's CPU kernel is
// contracted to an FMA), so is addcmul's final add; scalars are rounded to
// float32 as torch's kernels do. Plain scalar code: both builds give the same
// bits. No allocation; the façade sizes every array.
import { f32At, f32Put } from "./numbers";

/**
 * float32(a * b + c) rounded once, as a float32 FMA: the product of two
 * float32 is exact in float64; the float64 sum is made round-to-odd (its last
 * bit set when inexact), so the final rounding to float32 is correct.
 */
@inline function fma32(a: f32, b: f32, c: f32): f32 {
  const p = <f64>a * <f64>b, q = <f64>c;
  const s = p + q;
  const back = s - p;
  const error = (p - (s - back)) + (q - back);
  if (error != 0 && s - s == 0 && (reinterpret<u64>(s) & 1) == 0) { // finite s only
    // The exact sum lies between s and its neighbour towards `error`; that neighbour has the odd last bit.
    const towardsLarger = (error > 0) == (s > 0);
    return <f32>reinterpret<f64>(towardsLarger ? reinterpret<u64>(s) + 1 : reinterpret<u64>(s) - 1);
  }
  return <f32>s;
}

/**
 * torch.optim.SGD on `count` elements: d = ±grad (+ weightDecay * param);
 * with momentum, buf = d at the first step, else momentum * buf + (1 - dampening) * d,
 * and d = d + momentum * buf (nesterov) or buf; param -= lr * d. `buf` is 0
 * when momentum is 0. grad is read only.
 */
export function sgdStep(
  param: usize, grad: usize, buf: usize, count: i32,
  lr: f64, momentum: f64, dampening: f64, weightDecay: f64, nesterov: bool, maximize: bool, firstStep: bool,
): void {
  const negLr = <f32>-lr, mu = <f32>momentum, keep = <f32>(1.0 - dampening), decay = <f32>weightDecay;
  const useDecay = weightDecay != 0, useMomentum = momentum != 0;
  for (let i = 0; i < count; i++) {
    const p = f32At(param, i);
    let d = f32At(grad, i);
    if (maximize) d = -d;
    if (useDecay) d = fma32(decay, p, d);
    if (useMomentum) {
      const b = firstStep ? d : fma32(keep, d, f32At(buf, i) * mu);
      f32Put(buf, i, b);
      d = nesterov ? fma32(mu, b, d) : b;
    }
    f32Put(param, i, fma32(negLr, d, p));
  }
}

/**
 * torch.optim.Adam (decoupled false) and AdamW (decoupled true) on `count`
 * elements at step `step` (1 for the first): the moments expAvg, expAvgSq
 * (and maxExpAvgSq with amsgrad; else 0) are updated, then
 * param += -lr / (1 - beta1^step) * expAvg / (sqrt(v) / sqrt(1 - beta2^step) + eps).
 * Adam adds weightDecay * param to the gradient; AdamW multiplies param by
 * 1 - lr * weightDecay first. grad is read only.
 */
export function adamStep(
  param: usize, grad: usize, expAvg: usize, expAvgSq: usize, maxExpAvgSq: usize, count: i32,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weightDecay: f64, step: f64, decoupled: bool, amsgrad: bool, maximize: bool,
): void {
  // The scalars as torch computes them: Python floats (float64), rounded to float32 by the kernels.
  const stepSize = lr / (1.0 - Math.pow(beta1, step));
  const correction2 = <f32>Math.sqrt(1.0 - Math.pow(beta2, step));
  const negStep = <f32>-stepSize, b1 = <f32>beta1, b2 = <f32>beta2, keep1 = <f32>(1.0 - beta1), keep2 = <f32>(1.0 - beta2);
  const eps32 = <f32>eps, decay = <f32>weightDecay, shrink = <f32>(1.0 - lr * weightDecay);
  const coupledDecay = !decoupled && weightDecay != 0;
  for (let i = 0; i < count; i++) {
    let p = f32At(param, i);
    let g = f32At(grad, i);
    if (maximize) g = -g;
    if (coupledDecay) g = fma32(decay, p, g);
    if (decoupled) p = p * shrink;
    const m = fma32(keep1, g, f32At(expAvg, i) * b1);
    const v = fma32(keep2 * g, g, f32At(expAvgSq, i) * b2);
    f32Put(expAvg, i, m);
    f32Put(expAvgSq, i, v);
    let second = v;
    if (amsgrad) {
      second = max<f32>(f32At(maxExpAvgSq, i), v); // NaN propagates, as torch.maximum
      f32Put(maxExpAvgSq, i, second);
    }
    const denom = Mathf.sqrt(second) / correction2 + eps32;
    f32Put(param, i, p + (negStep * m) / denom);
  }
}

/** Sets `count` float32 values to `value` (the optimizers' zeroGrad). */
export function fillValues(ptr: usize, count: i32, value: f32): void {
  for (let i = 0; i < count; i++) store<f32>(ptr + (<usize>i << 2), value);
}
