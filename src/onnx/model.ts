// ONNX models (batchnorm-wasm/onnx): the normalization nodes of a model with
// their initializers, as layers; and BatchNormalization nodes folded into the
// Conv, ConvTranspose or Gemm that feeds them, the model written back.
// Parsing and writing go through protobufjs (an optional peer dependency of
// this entry point only) with ONNX's own schema; the core imports none of it.
import protobuf from "protobufjs";
import {
  BatchNorm, BatchNormError, GroupNorm, InstanceNorm, LayerNorm, MAX_TENSOR_ELEMENTS, fromOnnxAttributes, fromOnnxInitializers, fuseConvBnWeights, fuseLinearBnWeights,
  type BatchNormFoldState, type FoldedWeights,
} from "../index.ts";
import { ONNX_PROTO } from "./schema.ts";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Message = Record<string, any>;

let modelType: protobuf.Type | null = null;
function ModelProto(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType("onnx.ModelProto");
  return modelType;
}

const bad = (argument: string, message: string): never => {
  throw new BatchNormError("ERR_FORMAT", argument, message);
};

/** int64 fields arrive as numbers or Long objects. */
function num(value: unknown): number {
  if (typeof value === "number") return value;
  if (value && typeof (value as { toNumber?: unknown }).toNumber === "function") return (value as { toNumber(): number }).toNumber();
  return Number(value ?? 0);
}

const FLOAT = 1, FLOAT16 = 10, DOUBLE = 11;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  return e === 0 ? sign * f * 2 ** -24 : e === 31 ? (f ? NaN : sign * Infinity) : sign * (1 + f / 1024) * 2 ** (e - 15);
}

/** An initializer's values as float32 and its dims. */
function tensorValues(tensor: Message): { data: Float32Array; dims: number[] } {
  const argument = `initializer ${JSON.stringify(tensor.name ?? "")}`;
  const dims: number[] = (tensor.dims ?? []).map(num);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(argument, `has dims [${dims.join(", ")}]; sizes must be non-negative integers`);
  const count = dims.reduce((a: number, b: number) => a * b, 1);
  if (count > MAX_TENSOR_ELEMENTS) bad(argument, `has dims [${dims.join(", ")}], more than ${MAX_TENSOR_ELEMENTS} elements`);
  if (num(tensor.data_location) === 1) bad(argument, "holds its data in an external file; load the model with its external data inlined");
  const type = num(tensor.data_type);
  const raw: Uint8Array | undefined = tensor.raw_data && tensor.raw_data.length > 0 ? tensor.raw_data : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const data = new Float32Array(count);
  const need = (size: number) => {
    if (raw && raw.byteLength !== count * size) bad(argument, `raw_data holds ${raw.byteLength} bytes, dims [${dims.join(", ")}] need ${count * size}`);
  };
  if (type === FLOAT) {
    need(4);
    if (view) for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
    else if ((tensor.float_data ?? []).length === count) data.set(tensor.float_data);
    else bad(argument, `has ${(tensor.float_data ?? []).length} float_data values, dims need ${count}`);
  } else if (type === DOUBLE) {
    need(8);
    if (view) for (let i = 0; i < count; i++) data[i] = view.getFloat64(8 * i, true);
    else if ((tensor.double_data ?? []).length === count) data.set(tensor.double_data);
    else bad(argument, `has ${(tensor.double_data ?? []).length} double_data values, dims need ${count}`);
  } else if (type === FLOAT16) {
    need(2);
    if (view) for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(2 * i, true));
    else if ((tensor.int32_data ?? []).length === count) tensor.int32_data.forEach((h: number, i: number) => (data[i] = halfToFloat(h)));
    else bad(argument, "float16 data missing");
  } else {
    bad(argument, `has data type ${type}; normalization and weight initializers must be float, double or float16`);
  }
  return { data, dims };
}

function floatTensor(name: string, dims: readonly number[], values: Float32Array): Message {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return { name, dims: [...dims], data_type: FLOAT, raw_data: raw };
}

function attributes(node: Message): Record<string, number | number[] | string> {
  const out: Record<string, number | number[] | string> = {};
  for (const a of node.attribute ?? []) {
    const type = num(a.type);
    if (type === 1) out[a.name] = a.f;
    else if (type === 2) out[a.name] = num(a.i);
    else if (type === 3) out[a.name] = new TextDecoder().decode(a.s);
    else if (type === 6) out[a.name] = [...(a.floats ?? [])];
    else if (type === 7) out[a.name] = (a.ints ?? []).map(num);
  }
  return out;
}

export type OnnxNormOp = "BatchNormalization" | "InstanceNormalization" | "LayerNormalization" | "GroupNormalization";
const NORM_OPS: readonly string[] = ["BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization"];

export interface OnnxNormNode {
  /** The node's name (or "#index" when it has none). */
  name: string;
  opType: OnnxNormOp;
  /** Input X and output Y value names. */
  input: string;
  output: string;
  attributes: Record<string, number | number[] | string>;
  /** Channels (length of scale; for LayerNormalization the product of scale's dims). */
  channels: number;
  /** BatchNormalization with training_mode = 1 (batch statistics; not foldable). */
  training: boolean;
  /**
   * The initializers under torch's keys: weight, bias, and for
   * BatchNormalization running_mean, running_var and num_batches_tracked 0
   * (ONNX keeps no count); ready for loadStateDict.
   */
  state: Record<string, Float32Array | number>;
  /** Dims of the scale initializer. */
  scaleDims: number[];
}

export interface OnnxModelInfo {
  irVersion: number;
  /** Opset of the default domain. */
  opset: number;
  producer: string;
  normalizations: OnnxNormNode[];
  /** Node names by op type, in graph order. */
  ops: string[];
}

function decode(bytes: Uint8Array | ArrayBuffer): Message {
  let input: Uint8Array;
  if (bytes instanceof Uint8Array) input = new Uint8Array(bytes);
  else if (bytes instanceof ArrayBuffer) input = new Uint8Array(bytes.slice(0));
  else throw new BatchNormError("ERR_ARGUMENT", "bytes", "must be a Uint8Array or an ArrayBuffer");
  let model: Message;
  try {
    model = ModelProto().decode(input) as unknown as Message;
  } catch (error) {
    return bad("bytes", `is not an ONNX model (${(error as Error).message})`);
  }
  if (!model.graph) bad("bytes", "is not an ONNX model (no graph)");
  return model;
}

function initializerMap(graph: Message): Map<string, Message> {
  return new Map((graph.initializer ?? []).map((t: Message) => [t.name, t]));
}

function normNode(node: Message, index: number, inits: Map<string, Message>): OnnxNormNode {
  const name = node.name || `#${index}`;
  const op = node.op_type as OnnxNormOp;
  const attrs = attributes(node);
  const value = (position: number, role: string): { data: Float32Array; dims: number[] } | null => {
    const input = node.input?.[position];
    if (!input) return null;
    const init = inits.get(input);
    if (!init) bad(`node ${JSON.stringify(name)}`, `its ${role} (${JSON.stringify(input)}) is not an initializer; only constant parameters can be read`);
    return tensorValues(init!);
  };
  const scale = value(1, "scale"), bias = value(2, "bias");
  if (!scale) bad(`node ${JSON.stringify(name)}`, "has no scale input");
  const state: Record<string, Float32Array | number> = { weight: scale!.data };
  if (bias) state.bias = bias.data;
  if (op === "BatchNormalization") {
    const mean = value(3, "input_mean"), variance = value(4, "input_var");
    if (!mean || !variance || !bias) bad(`node ${JSON.stringify(name)}`, "BatchNormalization needs scale, B, input_mean and input_var");
    const converted = fromOnnxInitializers({ scale: scale!.data, B: bias!.data, input_mean: mean!.data, input_var: variance!.data });
    state.running_mean = converted.running_mean;
    state.running_var = converted.running_var;
    state.num_batches_tracked = 0;
  }
  return {
    name, opType: op, input: node.input[0], output: node.output[0], attributes: attrs,
    channels: scale!.data.length, training: op === "BatchNormalization" && attrs.training_mode === 1, state, scaleDims: scale!.dims,
  };
}

/** The model's normalization nodes with their attributes and initializers. ERR_FORMAT for bytes that are not an ONNX model. */
export function readOnnx(bytes: Uint8Array | ArrayBuffer): OnnxModelInfo {
  const model = decode(bytes);
  const graph = model.graph;
  const inits = initializerMap(graph);
  const normalizations: OnnxNormNode[] = [];
  (graph.node ?? []).forEach((node: Message, i: number) => {
    if (NORM_OPS.includes(node.op_type) && (node.domain ?? "") === "") normalizations.push(normNode(node, i, inits));
  });
  const opset = (model.opset_import ?? []).find((o: Message) => (o.domain ?? "") === "");
  return {
    irVersion: num(model.ir_version), opset: opset ? num(opset.version) : 0, producer: `${model.producer_name ?? ""} ${model.producer_version ?? ""}`.trim(),
    normalizations, ops: (graph.node ?? []).map((n: Message) => n.op_type),
  };
}

export type OnnxNormLayer = BatchNorm | InstanceNorm | LayerNorm | GroupNorm;

/**
 * A layer (eval mode) per normalization node, by node name: BatchNorm with
 * ONNX's convention (fromOnnxAttributes), InstanceNorm (affine), LayerNorm
 * (normalized shape = scale's dims), GroupNorm (opset 21: scale per channel).
 * Nodes it cannot express are listed in `skipped` with the reason.
 */
export function onnxNormLayers(bytes: Uint8Array | ArrayBuffer): { layers: Map<string, OnnxNormLayer>; skipped: { name: string; reason: string }[] } {
  const info = readOnnx(bytes);
  const layers = new Map<string, OnnxNormLayer>();
  const skipped: { name: string; reason: string }[] = [];
  try {
    for (const node of info.normalizations) {
      const eps = typeof node.attributes.epsilon === "number" ? node.attributes.epsilon : 1e-5;
      let layer: OnnxNormLayer;
      if (node.opType === "BatchNormalization") {
        const { epsilon, momentum } = node.attributes as { epsilon?: number; momentum?: number };
        layer = new BatchNorm(node.channels, fromOnnxAttributes({ ...(epsilon !== undefined && { epsilon }), ...(momentum !== undefined && { momentum }) }));
      } else if (node.opType === "InstanceNormalization") {
        layer = new InstanceNorm(node.channels, { eps, affine: true });
      } else if (node.opType === "LayerNormalization") {
        if (!node.state.bias) {
          layer = new LayerNorm(node.scaleDims, { eps, bias: false });
        } else layer = new LayerNorm(node.scaleDims, { eps });
      } else {
        const groups = node.attributes.num_groups;
        if (info.opset < 21 || typeof groups !== "number") {
          skipped.push({ name: node.name, reason: `GroupNormalization before opset 21 has scale and bias per group, not per channel (opset ${info.opset})` });
          continue;
        }
        layer = new GroupNorm(groups, node.channels, { eps });
      }
      layers.set(node.name, layer);
      layer.loadStateDict(node.state);
      layer.eval();
    }
  } catch (error) {
    for (const layer of layers.values()) layer.dispose();
    throw error;
  }
  return { layers, skipped };
}

/** The rank of a value from the graph's inputs, value_info or outputs; null when not recorded. */
function rankOf(graph: Message, value: string): number | null {
  for (const list of [graph.input, graph.value_info, graph.output]) {
    const info = (list ?? []).find((v: Message) => v.name === value);
    const dims = info?.type?.tensor_type?.shape?.dim;
    if (dims) return dims.length;
  }
  return null;
}

export interface OnnxFoldResult {
  /** The model with the folded BatchNormalization nodes removed. */
  bytes: Uint8Array;
  folded: { node: string; into: string; op: string }[];
  skipped: { node: string; reason: string }[];
}

/**
 * Folds every eval-mode BatchNormalization whose input comes from a Conv,
 * ConvTranspose, Gemm or 2-D MatMul (weights and bias as initializers, output
 * used by the BN only; a MatMul gets an Add for the bias) into that node's weights (torch.nn.utils.fusion's formula in
 * float64, rounded once), removes the BN node and initializers left unused,
 * and returns the model's bytes. Other BN nodes stay and are listed in
 * `skipped` with the reason (training mode, another producer, a shared output).
 */
export function foldOnnxBatchNorms(bytes: Uint8Array | ArrayBuffer): OnnxFoldResult {
  const model = decode(bytes);
  const graph = model.graph;
  const nodes: Message[] = graph.node ?? [];
  const inits = initializerMap(graph);
  const folded: OnnxFoldResult["folded"] = [], skipped: OnnxFoldResult["skipped"] = [];
  const graphOutputs = new Set((graph.output ?? []).map((o: Message) => o.name));
  const removed = new Set<Message>();
  const added = new Map<Message, Message>(); // a node to insert after another (MatMul's Add)
  const usedNames = new Set<string>([...inits.keys(), ...nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])])]);
  const fresh = (base: string) => {
    let name = `${base}_bn_folded`, k = 1;
    while (usedNames.has(name)) name = `${base}_bn_folded_${k++}`;
    usedNames.add(name);
    return name;
  };
  const consumers = (value: string) => nodes.filter((n) => !removed.has(n) && (n.input ?? []).includes(value));
  nodes.forEach((bn, index) => {
    if (bn.op_type !== "BatchNormalization" || (bn.domain ?? "") !== "") return;
    const name = bn.name || `#${index}`;
    const skip = (reason: string) => skipped.push({ node: name, reason });
    const attrs = attributes(bn);
    if (attrs.training_mode === 1) return skip("training_mode = 1 (batch statistics): only inference BatchNormalization folds");
    if ((bn.output ?? []).slice(1).some((o: string) => o)) return skip("uses the optional running-statistics outputs");
    const x = bn.input[0];
    const producer = nodes.find((n) => !removed.has(n) && (n.output ?? []).includes(x));
    if (!producer) return skip(`its input ${JSON.stringify(x)} is a graph input or initializer, no layer to fold into`);
    const op = producer.op_type;
    if (!["Conv", "ConvTranspose", "Gemm", "MatMul"].includes(op) || (producer.domain ?? "") !== "") return skip(`fed by ${op}, not Conv, ConvTranspose, Gemm or MatMul`);
    if (op === "MatMul" && rankOf(graph, producer.input[0]) !== 2) {
      return skip("fed by MatMul whose input is not known to be 2-D: BN's channel axis (1) is MatMul's output axis only for [batch, features]");
    }
    if (consumers(x).length !== 1 || graphOutputs.has(x)) return skip(`the ${op} output is used elsewhere too`);
    const weightInit = inits.get(producer.input[1]);
    const biasName: string | undefined = op === "MatMul" ? undefined : producer.input[2];
    const biasInit = biasName ? inits.get(biasName) : undefined;
    if (!weightInit || (biasName && !biasInit)) return skip(`the ${op} weight or bias is not an initializer`);
    let bnState: OnnxNormNode;
    try {
      bnState = normNode(bn, index, inits);
    } catch (error) {
      return skip((error as Error).message);
    }
    const weight = tensorValues(weightInit);
    const pattrs = attributes(producer);
    const C = bnState.channels;
    const fold: BatchNormFoldState = {
      running_mean: bnState.state.running_mean as Float32Array, running_var: bnState.state.running_var as Float32Array,
      weight: bnState.state.weight as Float32Array, bias: bnState.state.bias as Float32Array,
      eps: typeof attrs.epsilon === "number" ? attrs.epsilon : 1e-5,
    };
    let result: FoldedWeights;
    let biasDims = [C];
    try {
      if (op === "MatMul") {
        if (weight.dims.length !== 2) return skip("the MatMul weight is not 2-D");
        result = fuseLinearBnWeights(weight.data, null, fold, { shape: weight.dims, layout: "IO" });
      } else if (op === "Gemm") {
        const beta = typeof pattrs.beta === "number" ? pattrs.beta : 1;
        const transB = pattrs.transB === 1;
        let bias: Float32Array | null = null;
        if (biasInit) {
          const values = tensorValues(biasInit).data;
          if (values.length !== C && values.length !== 1) return skip(`the Gemm bias C has ${values.length} values; only per-output (or scalar) C folds`);
          bias = Float32Array.from({ length: C }, (_, i) => beta * (values.length === 1 ? values[0] : values[i]));
        }
        if (weight.dims.length !== 2) return skip("the Gemm weight is not 2-D");
        result = fuseLinearBnWeights(weight.data, bias, fold, { shape: weight.dims, layout: transB ? "OI" : "IO" });
        if (biasInit && tensorValues(biasInit).dims.length === 2) biasDims = [1, C];
      } else {
        result = fuseConvBnWeights(weight.data, biasInit ? tensorValues(biasInit).data : null, fold, {
          shape: weight.dims, groups: typeof pattrs.group === "number" ? pattrs.group : 1, transposed: op === "ConvTranspose",
        });
      }
    } catch (error) {
      return skip(error instanceof BatchNormError ? error.message : String(error));
    }
    const weightName = fresh(producer.input[1]), newBiasName = fresh(biasName ?? `${producer.name || op}_bias`);
    graph.initializer.push(floatTensor(weightName, weight.dims, result.weight), floatTensor(newBiasName, biasDims, result.bias));
    inits.set(weightName, graph.initializer[graph.initializer.length - 2]);
    inits.set(newBiasName, graph.initializer[graph.initializer.length - 1]);
    if (op === "MatMul") {
      // MatMul has no bias: MatMul(A, W') then Add(., b') gives the BN's output.
      const product = fresh(`${x}_matmul`);
      producer.input = [producer.input[0], weightName];
      producer.output = [product];
      added.set(producer, { name: fresh(`${producer.name || "MatMul"}_bias`), op_type: "Add", input: [product, newBiasName], output: [bn.output[0]] });
      removed.add(bn);
      folded.push({ node: name, into: producer.name || `#${nodes.indexOf(producer)}`, op });
      return;
    }
    producer.input = [producer.input[0], weightName, newBiasName];
    if (op === "Gemm") {
      producer.attribute = (producer.attribute ?? []).filter((a: Message) => a.name !== "beta"); // beta is folded into the new C
    }
    producer.output = producer.output.map((o: string) => (o === x ? bn.output[0] : o));
    removed.add(bn);
    folded.push({ node: name, into: producer.name || `#${nodes.indexOf(producer)}`, op });
  });
  graph.node = nodes.filter((n) => !removed.has(n)).flatMap((n) => (added.has(n) ? [n, added.get(n)!] : [n]));
  // Initializers (and their graph inputs, in old IR versions) that nothing uses any more.
  const used = new Set<string>([...graph.node.flatMap((n: Message) => n.input ?? []), ...(graph.output ?? []).map((o: Message) => o.name)]);
  const dropped = new Set((graph.initializer ?? []).filter((t: Message) => !used.has(t.name)).map((t: Message) => t.name));
  graph.initializer = (graph.initializer ?? []).filter((t: Message) => !dropped.has(t.name));
  graph.input = (graph.input ?? []).filter((i: Message) => !dropped.has(i.name));
  const removedValues = new Set([...removed].map((n) => n.input[0]));
  graph.value_info = (graph.value_info ?? []).filter((v: Message) => !removedValues.has(v.name));
  return { bytes: ModelProto().encode(model).finish(), folded, skipped };
}
