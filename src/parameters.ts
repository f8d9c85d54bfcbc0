// Which gradient belongs to a layer's parameter. Layers register each
// parameter tensor with a function that returns its current gradient (null
// before the first backward, as torch's .grad is None); optimizers given a
// layer's parameters() find the gradients here. Module-private: nothing else
// can register or look up.
import type { Tensor } from "./tensor.ts";

const gradients = new WeakMap<Tensor, () => Tensor | null>();

/** Records that `gradient()` is the gradient of `param` (no-op for a null parameter). */
export function registerParameter(param: Tensor | null, gradient: () => Tensor | null): void {
  if (param) gradients.set(param, gradient);
}

/** The gradient accessor of a registered layer parameter, or undefined for any other tensor. */
export function gradientAccessor(param: Tensor): (() => Tensor | null) | undefined {
  return gradients.get(param);
}
