// The optimizers: torch.optim's SGD, Adam and AdamW over tensors in wasm memory.
export { SGD, type SGDOptions, type SGDHyperparameters, type SGDTorchGroup, type SGDStateDict } from "./sgd.ts";
export { Adam, AdamW, type AdamOptions, type AdamHyperparameters, type AdamTorchGroup, type AdamStateDict } from "./adam.ts";
export { Optimizer, type ParameterPair, type ParameterInput, type ParamGroup, type ParamGroupInput, type OptimizerStateDict, type ParameterStateDict } from "./optimizer.ts";
