// torch.optim.SGD (torch 1.13): momentum, dampening, Nesterov momentum, weight
// decay (L2, added to the gradient), maximize. The update runs as one kernel
// call per parameter (assembly/optim.ts sgdStep).
import { fail } from "../errors.ts";
import { readFlag } from "../options.ts";
import { Optimizer, readNumber, type OptimizerSpec, type OptimizerStateDict, type ParamGroupInput, type ParameterInput } from "./optimizer.ts";

export interface SGDOptions {
  /** Learning rate, required (as in torch 1.13; torch >= 2.2 defaults to 1e-3). */
  lr?: number;
  /** Momentum factor; default 0 (no momentum buffer). */
  momentum?: number;
  /** Dampening of the gradient in the momentum buffer; default 0. */
  dampening?: number;
  /** L2 penalty added to the gradient (torch's weight_decay); default 0. */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0); default false. */
  nesterov?: boolean;
  /** Maximize the objective (step along the gradient); default false. */
  maximize?: boolean;
}

/** An SGD parameter group's options (all present). */
export interface SGDHyperparameters {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/** A param_groups entry of SGD's state dict, with torch's names. */
export interface SGDTorchGroup {
  lr: number;
  momentum: number;
  dampening: number;
  weight_decay: number;
  nesterov: boolean;
  maximize: boolean;
}

export type SGDStateDict = OptimizerStateDict<SGDTorchGroup>;

const KEYS = ["lr", "momentum", "dampening", "weightDecay", "nesterov", "maximize"] as const;

const SPEC: OptimizerSpec<SGDHyperparameters> = {
  name: "SGD",
  keys: KEYS,
  torchKeys: { lr: "lr", momentum: "momentum", dampening: "dampening", weightDecay: "weight_decay", nesterov: "nesterov", maximize: "maximize" },
  read(raw, argument, fallback) {
    const hyper: SGDHyperparameters = {
      lr: readNumber(raw.lr, `${argument}.lr`, fallback?.lr, { min: 0 }),
      momentum: readNumber(raw.momentum, `${argument}.momentum`, fallback?.momentum ?? 0, { min: 0 }),
      dampening: readNumber(raw.dampening, `${argument}.dampening`, fallback?.dampening ?? 0, { min: -Infinity }),
      weightDecay: readNumber(raw.weightDecay, `${argument}.weightDecay`, fallback?.weightDecay ?? 0, { min: 0 }),
      nesterov: readFlag(raw.nesterov, `${argument}.nesterov`, fallback?.nesterov ?? false),
      maximize: readFlag(raw.maximize, `${argument}.maximize`, fallback?.maximize ?? false),
    };
    if (hyper.nesterov && (hyper.momentum <= 0 || hyper.dampening !== 0)) {
      fail("ERR_ARGUMENT", `${argument}.nesterov`, `Nesterov momentum needs a momentum > 0 and dampening 0, got momentum ${hyper.momentum} and dampening ${hyper.dampening}`);
    }
    return hyper;
  },
  stateKeys: (hyper) => (hyper.momentum !== 0 ? ["momentum_buffer"] : []),
  entryKeys: ["momentum_buffer"],
  counted: false,
  update(k, param, grad, state, h, fresh) {
    const buffer = h.momentum !== 0 ? state.tensors.get("momentum_buffer")! : null;
    k.sgdStep(param.byteOffset, grad.byteOffset, buffer ? buffer.byteOffset : 0, param.size,
      h.lr, h.momentum, h.dampening, h.weightDecay, h.nesterov, h.maximize, fresh.has("momentum_buffer"));
  },
  torchOnly: { foreach: [null, false], differentiable: [false] },
};

/**
 * torch.optim.SGD over layer parameters (from `parameters()`) or
 * `{ param, grad }` pairs, or over parameter groups `{ params, ...options }`.
 */
export class SGD extends Optimizer<SGDHyperparameters, SGDTorchGroup> {
  constructor(params: Iterable<ParameterInput> | Iterable<ParamGroupInput<SGDOptions>>, options?: SGDOptions) {
    super(SPEC, params, options);
  }
}
