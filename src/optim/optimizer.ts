// What SGD, Adam and AdamW share, with torch.optim.Optimizer's semantics:
// parameter groups (a list of parameters, or of { params, ...options } groups),
// per-parameter state made at a parameter's first step, parameters without a
// gradient skipped, state dicts with torch's keys (state by parameter index,
// param_groups with torch's option names). Every public call checks all it
// will use and allocates all it needs before it writes: a rejected call
// changes nothing. The update itself is one kernel call per parameter tensor.
import { describeValue, fail } from "../errors.ts";
import { stageArray } from "../layers/common.ts";
import { allocateAll } from "../ops/common.ts";
import { readOptions } from "../options.ts";
import { gradientAccessor } from "../parameters.ts";
import { Tensor, zerosFor } from "../tensor.ts";
import { keep } from "../tidy.ts";
import { kernels, type Kernels } from "../wasm.ts";

/** A tensor of your own and its gradient; `grad` is read at every step and zeroGrad (null: no gradient yet, skipped). */
export interface ParameterPair {
  param: Tensor;
  grad: Tensor | null;
}

/** A layer parameter (from parameters()), or a tensor of your own paired with its gradient. */
export type ParameterInput = Tensor | ParameterPair;

/** A parameter group as given to a constructor: its parameters and options that override the constructor's. */
export type ParamGroupInput<Options> = { params: Iterable<ParameterInput> } & Options;

/**
 * A parameter group: its parameters (read-only) and its options, which may be
 * changed between steps (e.g. a learning-rate schedule); step() checks them.
 */
export type ParamGroup<Hyper> = Hyper & { readonly params: readonly Tensor[] };

/** One parameter's state in a state dict: tensors as Float32Array copies, Adam's step as a number. */
export type ParameterStateDict = Record<string, Float32Array | number | null>;

/** torch.optim's state_dict(): state per parameter index (in group order), and the groups with torch's option names. */
export interface OptimizerStateDict<TorchGroup> {
  state: Record<number, ParameterStateDict>;
  param_groups: (TorchGroup & { params: number[] })[];
}

/** One parameter's state: tensors under torch's keys, and the step count (Adam). */
export interface ParameterState {
  tensors: Map<string, Tensor>;
  step: number;
}

/** What a concrete optimizer declares: option names, validation, and torch's group keys. */
export interface OptimizerSpec<Hyper extends object> {
  name: string;
  /** Option names (camelCase); torch's group key of each in `torchKeys`. */
  keys: readonly (keyof Hyper & string)[];
  torchKeys: Record<keyof Hyper & string, string>;
  /** Reads and checks options; undefined keys take `fallback`'s values (or the defaults when fallback is null). */
  read(raw: Partial<Record<keyof Hyper & string, unknown>>, argument: string, fallback: Hyper | null): Hyper;
  /** State tensors (torch keys) the next step with `hyper` needs. */
  stateKeys(hyper: Hyper): readonly string[];
  /** Every key a state-dict entry may hold. */
  entryKeys: readonly string[];
  /** Whether the state counts steps (Adam's "step"). */
  counted: boolean;
  /** One parameter's update: a kernel call; `fresh` names state tensors made for this step. */
  update(k: Kernels, param: Tensor, grad: Tensor, state: ParameterState, hyper: Hyper, fresh: ReadonlySet<string>): void;
  /** torch's values of the options torch has and this library does not (accepted in a loaded state dict). */
  torchOnly: Record<string, readonly unknown[]>;
}

interface Entry {
  param: Tensor;
  /** The gradient now: a layer's accessor, or the pair's grad property. */
  gradient: () => unknown;
  index: number;
}

interface Group<Hyper> {
  view: ParamGroup<Hyper>;
  entries: Entry[];
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
};

function isIterable(value: unknown): value is Iterable<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
}

export abstract class Optimizer<Hyper extends object, TorchGroup> {
  readonly #spec: OptimizerSpec<Hyper>;
  readonly #groups: Group<Hyper>[] = [];
  readonly #state = new Map<Tensor, ParameterState>();
  readonly #entries: Entry[] = [];
  #disposed = false;

  protected constructor(spec: OptimizerSpec<Hyper>, params: unknown, options: unknown) {
    this.#spec = spec;
    const defaults = spec.read(readOptions(options, "options", spec.keys), "options", null);
    if (!isIterable(params)) fail("ERR_ARGUMENT", "params", `must be an iterable of parameters or of parameter groups, got ${describeValue(params)}`);
    const items = Array.from(params);
    if (items.length === 0) fail("ERR_ARGUMENT", "params", "is empty: the optimizer got no parameters");
    const grouped = items.map((item) => isPlainObject(item) && "params" in item);
    if (grouped.some((g) => g !== grouped[0])) fail("ERR_ARGUMENT", "params", "mixes parameters and parameter groups: give a list of one kind");
    const seen = new Set<Tensor>();
    const groupInputs: [unknown, Hyper, string][] = grouped[0]
      ? items.map((item, g) => {
        const raw = readOptions(item, `params[${g}]`, ["params", ...spec.keys]);
        const { params: list, ...rest } = raw as Record<string, unknown>;
        return [list, spec.read(rest as Partial<Record<keyof Hyper & string, unknown>>, `params[${g}]`, defaults), `params[${g}].params`];
      })
      : [[items, defaults, "params"]];
    for (const [list, hyper, argument] of groupInputs) {
      if (!isIterable(list)) fail("ERR_ARGUMENT", argument, `must be an iterable of parameters, got ${describeValue(list)}`);
      const entries = Array.from(list, (item, i) => this.#entry(item, `${argument}[${i}]`, seen));
      if (entries.length === 0) fail("ERR_ARGUMENT", argument, "is empty: a parameter group needs parameters");
      const view = { ...hyper, params: Object.freeze(entries.map((e) => e.param)) } as ParamGroup<Hyper>;
      this.#groups.push({ view, entries });
    }
  }

  #entry(item: unknown, argument: string, seen: Set<Tensor>): Entry {
    let param: Tensor, gradient: () => unknown;
    if (Tensor.isTensor(item)) {
      const accessor = gradientAccessor(item);
      if (!accessor) fail("ERR_ARGUMENT", argument, "is a tensor that is not a layer parameter: pass { param, grad } for a tensor of your own");
      param = item;
      gradient = accessor;
    } else if (isPlainObject(item) && Tensor.isTensor(item.param)) {
      const pair = item;
      param = item.param;
      gradient = () => pair.grad;
    } else {
      fail("ERR_ARGUMENT", argument, `must be a layer parameter (a Tensor from parameters()) or { param, grad }, got ${describeValue(item)}`);
    }
    param.assertLive(argument);
    if (seen.has(param)) fail("ERR_ARGUMENT", argument, "appears more than once: a parameter may be in one group only, once");
    seen.add(param);
    const entry = { param, gradient, index: this.#entries.length };
    this.#entries.push(entry);
    return entry;
  }

  /** The parameter groups, as torch's param_groups: change an option (say lr) and the next step uses it. */
  get paramGroups(): readonly ParamGroup<Hyper>[] {
    return this.#groups.map((g) => g.view);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** One optimization step over every parameter that has a gradient (those without are skipped, as in torch). */
  step(): void {
    this.#assertLive();
    const spec = this.#spec;
    const plans: { entry: Entry; grad: Tensor; hyper: Hyper; state: ParameterState | undefined; missing: readonly string[] }[] = [];
    this.#groups.forEach((group, g) => {
      const hyper = this.#currentHyper(group, g);
      for (const entry of group.entries) {
        const grad = this.#gradientOf(entry);
        if (grad === null) continue;
        const state = this.#state.get(entry.param);
        const missing = spec.stateKeys(hyper).filter((key) => !state?.tensors.has(key));
        plans.push({ entry, grad, hyper, state, missing });
      }
    });
    // All state the step needs, or nothing.
    const makers = plans.flatMap((plan) => plan.missing.map((key) => () => keep(zerosFor([plan.entry.param.size], undefined, `state.${key}`))));
    const made = allocateAll<Tensor>(makers);
    // Nothing below can fail.
    const k = kernels();
    let next = 0;
    for (const plan of plans) {
      let state = plan.state;
      if (!state) this.#state.set(plan.entry.param, (state = { tensors: new Map(), step: 0 }));
      for (const key of plan.missing) state.tensors.set(key, made[next++]);
      spec.update(k, plan.entry.param, plan.grad, state, plan.hyper, new Set(plan.missing));
      plan.entry.param.markWritten();
      for (const tensor of state.tensors.values()) tensor.markWritten();
    }
  }

  /** Sets every parameter's gradient to zeros (torch 1.13's zero_grad(); gradient buffers are kept). */
  zeroGrad(): void {
    this.#assertLive();
    const grads = this.#entries.map((entry) => this.#gradientOf(entry)).filter((grad): grad is Tensor => grad !== null);
    const k = kernels();
    for (const grad of grads) {
      k.fillValues(grad.byteOffset, grad.size, 0);
      grad.markWritten();
    }
  }

  /** torch's state_dict(): copies of the state per parameter index, and the groups under torch's option names. */
  stateDict(): OptimizerStateDict<TorchGroup> {
    this.#assertLive();
    const spec = this.#spec;
    const state: Record<number, ParameterStateDict> = {};
    for (const entry of this.#entries) {
      const held = this.#state.get(entry.param);
      if (!held) continue;
      const record: ParameterStateDict = {};
      if (spec.counted) record.step = held.step;
      for (const key of spec.entryKeys) {
        if (key === "step") continue;
        const tensor = held.tensors.get(key);
        if (tensor) record[key] = tensor.toFloat32Array();
        else if (!spec.counted) record[key] = null; // torch's SGD keeps momentum_buffer: None
      }
      state[entry.index] = record;
    }
    const param_groups = this.#groups.map((group, g) => {
      const hyper = this.#currentHyper(group, g);
      const out: Record<string, unknown> = {};
      for (const key of spec.keys) {
        const value = hyper[key];
        out[spec.torchKeys[key]] = Array.isArray(value) ? [...value] : value;
      }
      out.params = group.entries.map((e) => e.index);
      return out as TorchGroup & { params: number[] };
    });
    return { state, param_groups };
  }

  /**
   * torch's load_state_dict(): the options of each saved group replace this
   * optimizer's, and the saved state replaces the state (matched by position:
   * the i-th saved parameter index is this optimizer's i-th parameter). Values
   * may be Float32Arrays, arrays of numbers or tensors. Everything is checked
   * before anything is written.
   */
  loadStateDict(stateDict: OptimizerStateDict<TorchGroup>): void {
    this.#assertLive();
    const spec = this.#spec;
    const top = readTop(stateDict);
    const savedGroups = top.param_groups;
    if (!Array.isArray(savedGroups)) fail("ERR_STATE_DICT", "state.param_groups", `must be an array, got ${describeValue(savedGroups)}`);
    if (savedGroups.length !== this.#groups.length) {
      fail("ERR_STATE_DICT", "state.param_groups", `has ${savedGroups.length} groups, the optimizer has ${this.#groups.length}`);
    }
    const byId = new Map<string, Entry>();
    const hypers = this.#groups.map((group, g) => {
      const argument = `state.param_groups[${g}]`;
      const saved: unknown = savedGroups[g];
      if (!isPlainObject(saved)) fail("ERR_STATE_DICT", argument, `must be an object, got ${describeValue(saved)}`);
      const raw: Partial<Record<keyof Hyper & string, unknown>> = {};
      const camel = new Map(spec.keys.map((key) => [spec.torchKeys[key], key]));
      for (const key of Object.keys(saved)) {
        const value = saved[key];
        if (key === "params") continue;
        const own = camel.get(key);
        if (own) raw[own] = value;
        else if (key in spec.torchOnly) {
          if (!spec.torchOnly[key].includes(value)) fail("ERR_STATE_DICT", `${argument}.${key}`, `torch's ${key} is not supported here (only ${spec.torchOnly[key].map(String).join(" or ")}), got ${describeValue(value)}`);
        } else {
          fail("ERR_STATE_DICT", `${argument}.${key}`, `unexpected key (expected ${[...camel.keys(), "params"].join(", ")})`);
        }
      }
      for (const [torchKey, key] of camel) if (raw[key] === undefined) fail("ERR_STATE_DICT", `${argument}.${torchKey}`, "missing key");
      const ids = saved.params;
      if (!Array.isArray(ids)) fail("ERR_STATE_DICT", `${argument}.params`, `must be an array of parameter indices, got ${describeValue(ids)}`);
      if (ids.length !== group.entries.length) {
        fail("ERR_STATE_DICT", `${argument}.params`, `has ${ids.length} parameters, the group has ${group.entries.length}`);
      }
      ids.forEach((id: unknown, i: number) => {
        if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) fail("ERR_STATE_DICT", `${argument}.params[${i}]`, `must be a non-negative integer, got ${describeValue(id)}`);
        if (byId.has(String(id))) fail("ERR_STATE_DICT", `${argument}.params[${i}]`, `index ${id} appears twice`);
        byId.set(String(id), group.entries[i]);
      });
      return spec.read(raw, argument, null);
    });
    const savedState = top.state;
    if (!isPlainObject(savedState)) fail("ERR_STATE_DICT", "state.state", `must be an object keyed by parameter index, got ${describeValue(savedState)}`);
    const staged = new Map<Entry, { step: number; tensors: Map<string, Float32Array> }>();
    for (const id of Object.keys(savedState)) {
      const argument = `state.state[${id}]`;
      const entry = byId.get(id) ?? fail("ERR_STATE_DICT", argument, "is not a parameter index of param_groups");
      const record = savedState[id];
      if (!isPlainObject(record)) fail("ERR_STATE_DICT", argument, `must be an object, got ${describeValue(record)}`);
      staged.set(entry, this.#stageEntry(record, entry.param.size, argument));
    }
    // Allocate what the loaded state needs beyond the tensors held now.
    const wanted: [Entry, string][] = [];
    for (const [entry, record] of staged) {
      for (const key of record.tensors.keys()) if (!this.#state.get(entry.param)?.tensors.has(key)) wanted.push([entry, key]);
    }
    const made = allocateAll<Tensor>(wanted.map(([entry, key]) => () => keep(zerosFor([entry.param.size], undefined, `state.${key}`))));
    // Nothing below can fail.
    const next = new Map<Tensor, ParameterState>();
    let m = 0;
    for (const [entry, record] of staged) {
      const old = this.#state.get(entry.param);
      const tensors = new Map<string, Tensor>();
      for (const [key, values] of record.tensors) {
        const tensor = old?.tensors.get(key) ?? made[m++];
        tensor.set(values);
        tensors.set(key, tensor);
      }
      for (const [key, tensor] of old?.tensors ?? []) if (!tensors.has(key)) tensor.dispose();
      next.set(entry.param, { tensors, step: record.step });
    }
    for (const [param, old] of this.#state) if (!next.has(param)) for (const tensor of old.tensors.values()) tensor.dispose();
    this.#state.clear();
    for (const [param, state] of next) this.#state.set(param, state);
    this.#groups.forEach((group, g) => Object.assign(group.view, hypers[g]));
  }

  /** Frees the optimizer's state tensors (never the parameters or gradients). Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    for (const state of this.#state.values()) for (const tensor of state.tensors.values()) tensor.dispose();
    this.#state.clear();
    this.#disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #stageEntry(record: Record<string, unknown>, size: number, argument: string): { step: number; tensors: Map<string, Float32Array> } {
    const spec = this.#spec;
    for (const key of Object.keys(record)) {
      if (!spec.entryKeys.includes(key)) fail("ERR_STATE_DICT", `${argument}.${key}`, `unexpected key (expected ${spec.entryKeys.join(", ")})`);
    }
    const tensors = new Map<string, Float32Array>();
    let step = 0;
    for (const key of spec.entryKeys) {
      const value = record[key];
      if (key === "step") {
        if (value === undefined) fail("ERR_STATE_DICT", `${argument}.step`, "missing key");
        const count = typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
        if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
          fail("ERR_STATE_DICT", `${argument}.step`, `must be a non-negative integer, got ${describeValue(value)}`);
        }
        step = count;
      } else if (value !== undefined && value !== null) {
        tensors.set(key, stageArray(value, size, `${argument}.${key}`));
      }
    }
    if (spec.counted) {
      for (const key of spec.entryKeys.filter((k) => k.startsWith("exp_avg"))) {
        if (!tensors.has(key)) fail("ERR_STATE_DICT", `${argument}.${key}`, "missing key");
      }
    }
    return { step, tensors };
  }

  /** The group's options now (the user may have changed them), checked. */
  #currentHyper(group: Group<Hyper>, g: number): Hyper {
    const raw: Partial<Record<keyof Hyper & string, unknown>> = {};
    for (const key of this.#spec.keys) raw[key] = (group.view as Record<string, unknown>)[key];
    return this.#spec.read(raw, `paramGroups[${g}]`, null);
  }

  /** The entry's gradient now: null (skipped), or a live tensor of the parameter's size. */
  #gradientOf(entry: Entry): Tensor | null {
    const argument = `params[${entry.index}]`;
    entry.param.assertLive(argument);
    const grad = entry.gradient();
    if (grad === null || grad === undefined) return null;
    if (!Tensor.isTensor(grad)) fail("ERR_ARGUMENT", `${argument}.grad`, `must be a Tensor or null, got ${describeValue(grad)}`);
    grad.assertLive(`${argument}.grad`);
    if (grad.size !== entry.param.size) fail("ERR_SHAPE", `${argument}.grad`, `has ${grad.size} values, the parameter ${entry.param.size}`);
    return grad;
  }

  #assertLive(): void {
    if (this.#disposed) fail("ERR_DISPOSED", "this", `${this.#spec.name} optimizer was disposed`);
  }
}

function readTop(stateDict: unknown): Record<string, unknown> {
  if (!isPlainObject(stateDict)) fail("ERR_ARGUMENT", "state", `must be an optimizer state dict ({ state, param_groups }), got ${describeValue(stateDict)}`);
  for (const key of Object.keys(stateDict)) {
    if (key !== "state" && key !== "param_groups") fail("ERR_STATE_DICT", `state.${key}`, "unexpected key (expected state, param_groups)");
  }
  for (const key of ["state", "param_groups"]) if (stateDict[key] === undefined) fail("ERR_STATE_DICT", `state.${key}`, "missing key");
  return stateDict;
}

// ---- option readers ----

/** A finite number in a range, `fallback` when undefined. */
export function readNumber(value: unknown, argument: string, fallback: number | undefined, rule: { min: number; below?: number }): number {
  if (value === undefined) {
    if (fallback === undefined) fail("ERR_ARGUMENT", argument, "is required");
    return fallback;
  }
  const inRange = typeof value === "number" && Number.isFinite(value) && value >= rule.min && (rule.below === undefined || value < rule.below);
  if (!inRange) {
    const range = rule.below === undefined ? `>= ${rule.min}` : `in [${rule.min}, ${rule.below})`;
    fail("ERR_ARGUMENT", argument, `must be a finite number ${range}, got ${describeValue(value)}`);
  }
  return value as number;
}
