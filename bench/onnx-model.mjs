// Builds ONNX models as bytes (a minimal protobuf writer, enough for
// single-operator graphs): BatchNormalization (opset 15) and the family's
// LayerNormalization, InstanceNormalization, GroupNormalization and
// RMSNormalization, as one node or a chain of nodes.
const FLOAT = 1;

class Writer {
  constructor() { this.bytes = []; }
  varint(value) {
    let v = BigInt.asUintN(64, BigInt(value)); // int64 two's complement, as protobuf encodes negatives
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      this.bytes.push(byte);
    } while (v > 0n);
    return this;
  }
  key(field, wireType) { return this.varint((field << 3) | wireType); }
  int(field, value) { return this.key(field, 0).varint(value); }
  bytesField(field, data) { this.key(field, 2).varint(data.length); for (const b of data) this.bytes.push(b); return this; }
  string(field, text) { return this.bytesField(field, new TextEncoder().encode(text)); }
  message(field, build) { const inner = new Writer(); build(inner); return this.bytesField(field, inner.bytes); }
  float(field, value) {
    const buffer = new Uint8Array(4);
    new DataView(buffer.buffer).setFloat32(0, value, true);
    this.key(field, 5);
    for (const b of buffer) this.bytes.push(b);
    return this;
  }
}

function valueInfo(w, field, name, shape) {
  w.message(field, (v) => v.string(1, name).message(2, (type) => type.message(1, (tensor) => {
    tensor.int(1, FLOAT).message(2, (s) => { for (const d of shape) s.message(1, (dim) => dim.int(1, d)); });
  })));
}

function initializer(w, name, values) {
  w.message(5, (t) => {
    t.int(1, values.length).int(2, FLOAT).string(8, name);
    t.bytesField(9, new Uint8Array(Float32Array.from(values).buffer));
  });
}

/**
 * A model of `nodes` chained BatchNormalization nodes on input X of `shape`
 * (NCHW or NC). Per-channel parameters are initializers. With trainingMode,
 * the single node also outputs running_mean and running_var (momentum 0.9).
 */
export function batchNormModel({ shape, scale, bias, mean, variance, epsilon = 1e-5, nodes = 1, trainingMode = false }) {
  const C = shape[1];
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.message(8, (o) => o.string(1, "").int(2, 15)); // opset_import
  w.message(7, (g) => {
    for (let i = 0; i < nodes; i++) {
      g.message(1, (n) => {
        n.string(1, i === 0 ? "X" : `h${i}`).string(1, "scale").string(1, "B").string(1, "input_mean").string(1, "input_var");
        n.string(2, i === nodes - 1 ? "Y" : `h${i + 1}`);
        if (trainingMode) n.string(2, "running_mean").string(2, "running_var");
        n.string(3, `bn${i}`).string(4, "BatchNormalization");
        n.message(5, (a) => a.string(1, "epsilon").float(2, epsilon).int(20, 1));
        n.message(5, (a) => a.string(1, "momentum").float(2, 0.9).int(20, 1));
        if (trainingMode) n.message(5, (a) => a.string(1, "training_mode").int(3, 1).int(20, 2));
      });
    }
    g.string(2, "batchnorm");
    initializer(g, "scale", scale);
    initializer(g, "B", bias);
    initializer(g, "input_mean", mean);
    initializer(g, "input_var", variance);
    valueInfo(g, 11, "X", shape);
    valueInfo(g, 12, "Y", shape);
    if (trainingMode) {
      valueInfo(g, 12, "running_mean", [C]);
      valueInfo(g, 12, "running_var", [C]);
    }
  });
  return new Uint8Array(w.bytes);
}

/**
 * A model of `nodes` chained `op` nodes on input X of `shape`, opset `opset`.
 * `initializers`: [name, values] pairs of 1-D float tensors, the node's inputs
 * after X in order; `attributes`: { name: ["float" | "int", value] }.
 */
export function normModel({ op, opset, shape, initializers, attributes = {}, nodes = 1, irVersion = 10 }) {
  const w = new Writer();
  w.int(1, irVersion);
  w.message(8, (o) => o.string(1, "").int(2, opset));
  w.message(7, (g) => {
    for (let i = 0; i < nodes; i++) {
      g.message(1, (n) => {
        n.string(1, i === 0 ? "X" : `h${i}`);
        for (const [name] of initializers) n.string(1, name);
        n.string(2, i === nodes - 1 ? "Y" : `h${i + 1}`);
        n.string(3, `${op}${i}`).string(4, op);
        for (const [name, [type, value]] of Object.entries(attributes)) {
          n.message(5, (a) => (type === "float" ? a.string(1, name).float(2, value).int(20, 1) : a.string(1, name).int(3, value).int(20, 2)));
        }
      });
    }
    g.string(2, op);
    for (const [name, values] of initializers) initializer(g, name, values);
    valueInfo(g, 11, "X", shape);
    valueInfo(g, 12, "Y", shape);
  });
  return new Uint8Array(w.bytes);
}
