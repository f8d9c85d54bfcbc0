// Scoped tensor lifetimes, like TensorFlow.js's tf.tidy: tensors created while
// tidy(fn) runs and not returned by fn are disposed when fn ends (or throws).
// Tensor's constructor and dispose() call the two hooks at the bottom.
import { describeValue, fail } from "./errors.ts";
import { checkTensor, type Tensor } from "./tensor.ts";

/** Innermost scope last; each holds the live tensors created while it was innermost. */
const scopes: Set<Tensor>[] = [];

/**
 * Runs `fn` and disposes every tensor created during the call except those in
 * its result (a tensor, or arrays and plain objects holding tensors, at any
 * depth) and those passed to keep(). Nested calls work: a result of an inner
 * tidy belongs to the outer one from then on. If `fn` throws, every tensor it
 * created is disposed and the error passes through. `fn` must be synchronous.
 * Layers own their parameters, buffers and gradients: tidy never disposes them.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== "function") fail("ERR_ARGUMENT", "fn", `must be a function, got ${describeValue(fn)}`);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    closeScope(scope, new Set());
    throw error;
  }
  if (isThenable(result)) {
    closeScope(scope, new Set());
    fail("ERR_ARGUMENT", "fn", "returned a Promise: tidy is synchronous (tensors created after an await would escape it)");
  }
  closeScope(scope, tensorsIn(result, scope));
  return result;
}

/** Exempts `tensor` from every enclosing tidy (it lives until you dispose it). Returns it. */
export function keep<T extends Tensor>(tensor: T): T {
  checkTensor(tensor, "tensor");
  for (const scope of scopes) scope.delete(tensor);
  return tensor;
}

/** Pops `scope`, disposes what it holds except `survivors`, and hands the survivors to the enclosing scope. */
function closeScope(scope: Set<Tensor>, survivors: Set<Tensor>): void {
  scopes.splice(scopes.lastIndexOf(scope), 1);
  const outer = scopes.at(-1);
  for (const tensor of scope) {
    if (!survivors.has(tensor)) tensor.dispose();
    else outer?.add(tensor);
  }
}

/** The tensors of `scope` found in `value`, through arrays and plain objects (cycles allowed). */
function tensorsIn(value: unknown, scope: Set<Tensor>): Set<Tensor> {
  const found = new Set<Tensor>();
  const seen = new Set<object>();
  const visit = (item: unknown): void => {
    if (typeof item !== "object" || item === null || seen.has(item)) return;
    seen.add(item);
    if (scope.has(item as Tensor)) found.add(item as Tensor);
    else if (Array.isArray(item)) item.forEach(visit);
    else if (isPlainObject(item)) Object.values(item).forEach(visit);
  };
  visit(value);
  return found;
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isThenable(value: unknown): boolean {
  return (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function";
}

// ---- hooks called by Tensor ----

/** A new tensor belongs to the innermost tidy, if any. */
export function trackInScope(tensor: Tensor): void {
  scopes.at(-1)?.add(tensor);
}

/** A disposed tensor leaves its scope (so a long tidy does not hold disposed tensors). */
export function untrackFromScope(tensor: Tensor): void {
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].delete(tensor)) return;
}
