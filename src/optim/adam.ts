// torch.optim.Adam and torch.optim.AdamW (torch 1.13): bias-corrected first
// and second moments, amsgrad, maximize; Adam adds weight decay to the gradient
// (L2), AdamW decays the parameter itself (decoupled). The update runs as one
// kernel call per parameter (assembly/optim.ts adamStep).
import { describeValue, fail } from "../errors.ts";
import { readFlag } from "../options.ts";
import { Optimizer, readNumber, type OptimizerSpec, type OptimizerStateDict, type ParamGroupInput, type ParameterInput } from "./optimizer.ts";

export interface AdamOptions {
  /** Learning rate; default 1e-3. */
  lr?: number;
  /** Decay rates of the first and second moment averages, each in [0, 1); default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator; default 1e-8. */
  eps?: number;
  /** Adam: L2 penalty added to the gradient, default 0. AdamW: decoupled decay, default 1e-2. */
  weightDecay?: number;
  /** The AMSGrad variant (normalizes by the largest second moment so far); default false. */
  amsgrad?: boolean;
  /** Maximize the objective; default false. */
  maximize?: boolean;
}

/** An Adam/AdamW parameter group's options (all present). */
export interface AdamHyperparameters {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

/** A param_groups entry of Adam's and AdamW's state dicts, with torch's names. */
export interface AdamTorchGroup {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  amsgrad: boolean;
  maximize: boolean;
}

export type AdamStateDict = OptimizerStateDict<AdamTorchGroup>;

const KEYS = ["lr", "betas", "eps", "weightDecay", "amsgrad", "maximize"] as const;

function readBetas(value: unknown, argument: string, fallback: readonly [number, number]): readonly [number, number] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length !== 2) fail("ERR_ARGUMENT", argument, `must be an array of two numbers in [0, 1), got ${describeValue(value)}`);
  const copy = [value[0], value[1]] as const; // read once
  return Object.freeze([
    readNumber(copy[0], `${argument}[0]`, undefined, { min: 0, below: 1 }),
    readNumber(copy[1], `${argument}[1]`, undefined, { min: 0, below: 1 }),
  ] as const);
}

function spec(name: string, decoupled: boolean): OptimizerSpec<AdamHyperparameters> {
  return {
    name,
    keys: KEYS,
    torchKeys: { lr: "lr", betas: "betas", eps: "eps", weightDecay: "weight_decay", amsgrad: "amsgrad", maximize: "maximize" },
    read(raw, argument, fallback) {
      return {
        lr: readNumber(raw.lr, `${argument}.lr`, fallback?.lr ?? 1e-3, { min: 0 }),
        betas: readBetas(raw.betas, `${argument}.betas`, fallback?.betas ?? [0.9, 0.999]),
        eps: readNumber(raw.eps, `${argument}.eps`, fallback?.eps ?? 1e-8, { min: 0 }),
        weightDecay: readNumber(raw.weightDecay, `${argument}.weightDecay`, fallback?.weightDecay ?? (decoupled ? 1e-2 : 0), { min: 0 }),
        amsgrad: readFlag(raw.amsgrad, `${argument}.amsgrad`, fallback?.amsgrad ?? false),
        maximize: readFlag(raw.maximize, `${argument}.maximize`, fallback?.maximize ?? false),
      };
    },
    stateKeys: (hyper) => (hyper.amsgrad ? ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["exp_avg", "exp_avg_sq"]),
    entryKeys: ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    counted: true,
    update(k, param, grad, state, h) {
      state.step += 1;
      const t = state.tensors;
      const max = h.amsgrad ? t.get("max_exp_avg_sq")!.byteOffset : 0;
      k.adamStep(param.byteOffset, grad.byteOffset, t.get("exp_avg")!.byteOffset, t.get("exp_avg_sq")!.byteOffset, max, param.size,
        h.lr, h.betas[0], h.betas[1], h.eps, h.weightDecay, state.step, decoupled, h.amsgrad, h.maximize);
    },
    torchOnly: { foreach: [null, false], capturable: [false], differentiable: [false], fused: [null, false] },
  };
}

const ADAM = spec("Adam", false), ADAMW = spec("AdamW", true);

type Params = Iterable<ParameterInput> | Iterable<ParamGroupInput<AdamOptions>>;

/** torch.optim.Adam: weight decay as an L2 term added to the gradient. */
export class Adam extends Optimizer<AdamHyperparameters, AdamTorchGroup> {
  constructor(params: Params, options?: AdamOptions) {
    super(ADAM, params, options);
  }
}

/** torch.optim.AdamW: decoupled weight decay (param *= 1 - lr * weightDecay before the Adam step), default 1e-2. */
export class AdamW extends Optimizer<AdamHyperparameters, AdamTorchGroup> {
  constructor(params: Params, options?: AdamOptions) {
    super(ADAMW, params, options);
  }
}
