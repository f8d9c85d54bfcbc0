// Node-only: the batchnorm-wasm/node file helpers (source and built entry
// point, ESM and CJS, one BatchNormError class with the core), the committed
// checkpoint file against the bytes the conformance suite embeds, and the
// worked example examples/checkpoint.mjs end to end.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensorsFile, writeSafetensorsFile } from "../../src/node.ts";
import { BatchNormError } from "../../src/index.ts";
import { checkpointBytes } from "../support/checkpoint.ts";

const root = resolve(import.meta.dirname, "../..");
const fixture = join(root, "test/fixtures/digits-cnn.safetensors");
const scratch = mkdtempSync(join(tmpdir(), "bn-safetensors-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("batchnorm-wasm/node", () => {
  it("the committed checkpoint is the fixture's embedded bytes, and reads through readSafetensorsFile", async () => {
    const onDisk = readFileSync(fixture);
    expect(Buffer.compare(onDisk, Buffer.from(checkpointBytes()))).toBe(0);
    const file = await readSafetensorsFile(fixture);
    expect(Object.keys(file.tensors)).toHaveLength(31);
    expect(typeof file.state["features.1.num_batches_tracked"]).toBe("number");
  });

  it("writes a file and reads it back; a malformed file is ERR_FORMAT, a missing one Node's ENOENT", async () => {
    const path = join(scratch, "state.safetensors");
    const written = await writeSafetensorsFile(path, { w: new Float32Array([1, 2]), n: 3 }, { format: "pt" });
    expect(written).toBe(readFileSync(path).length);
    const file = await readSafetensorsFile(path);
    expect([...file.tensors.w.data]).toEqual([1, 2]);
    expect({ ...file.metadata }).toEqual({ format: "pt" });
    await writeSafetensorsFile(join(scratch, "bad.safetensors"), {});
    const bad = join(scratch, "truncated.safetensors");
    await writeSafetensorsFile(bad, { w: [1] });
    execFileSync("truncate", ["-s", "-2", bad]);
    await expect(readSafetensorsFile(bad)).rejects.toMatchObject({ code: "ERR_FORMAT" });
    await expect(readSafetensorsFile(bad)).rejects.toBeInstanceOf(BatchNormError);
    await expect(readSafetensorsFile(join(scratch, "none.safetensors"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("the built entry point (ESM and CJS) shares the core's BatchNormError", () => {
    const esm = [
      `import { readSafetensorsFile } from "batchnorm-wasm/node";`,
      `import { BatchNormError } from "batchnorm-wasm";`,
      `const f = await readSafetensorsFile(${JSON.stringify(fixture)});`,
      `try { await readSafetensorsFile(${JSON.stringify(join(root, "package.json"))}); } catch (e) { console.log(Object.keys(f.tensors).length, e instanceof BatchNormError, e.code); }`,
    ].join("\n");
    expect(execFileSync(process.execPath, ["--input-type=module", "-e", esm], { cwd: root, encoding: "utf8" }).trim()).toBe("31 true ERR_FORMAT");
    const cjs = `const { writeSafetensorsFile } = require("batchnorm-wasm/node"); const { readSafetensors } = require("batchnorm-wasm");
      writeSafetensorsFile(${JSON.stringify(join(scratch, "cjs.safetensors"))}, { a: [5] }).then(() => console.log(readSafetensors(require("fs").readFileSync(${JSON.stringify(join(scratch, "cjs.safetensors"))})).tensors.a.data[0]));`;
    expect(execFileSync(process.execPath, ["-e", cjs], { cwd: root, encoding: "utf8" }).trim()).toBe("5");
  });
});

describe("the worked example (examples/checkpoint.mjs)", () => {
  it("lists the layers, matches torch in eval mode, and the folded model predicts as torch", () => {
    const out = execFileSync(process.execPath, [join(root, "examples/checkpoint.mjs")], { cwd: root, encoding: "utf8" });
    expect(out).toMatch(/features\.7\. +BatchNorm +12 channels/);
    expect(out).toMatch(/norm\. +Norm +10 channels/);
    const evalDiff = Number(/eval on torch's activations: max \|ours - torch\| (\S+)/.exec(out)![1]);
    const logitDiff = Number(/unfolded logits: max \|difference\| (\S+)/.exec(out)![1]);
    expect(evalDiff).toBeLessThan(2e-6);
    expect(logitDiff).toBeLessThan(1e-5);
    expect(out).toMatch(/predictions \d+ {2}same/);
  });
});
