// Runs every test suite and prints one combined line "N passed, N failed"
// (the line CI reads): Node through vitest (both builds, see vitest.config.ts),
// then the same conformance files in Deno, Bun, Chromium and Firefox.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { runRuntimes } from "./runtimes/run.mjs";

mkdirSync(".tmp", { recursive: true });
const rows = [];

function runVitest() {
  const report = ".tmp/vitest-report.json";
  const result = spawnSync("npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`], { stdio: "inherit" });
  try {
    const json = JSON.parse(readFileSync(report, "utf8"));
    // Node runs every conformance file once per build (vitest.config.ts).
    const conformance = json.testResults.filter((f) => f.name.includes("/test/conformance/")).reduce((n, f) => n + f.assertionResults.length, 0);
    return { runtime: "node (vitest)", conformancePerBuild: conformance / 2, passed: json.numPassedTests, failed: json.numFailedTests + (result.status === 0 ? 0 : json.numFailedTests === 0 ? 1 : 0) };
  } catch {
    return { runtime: "node (vitest)", passed: 0, failed: 1 };
  }
}

const node = runVitest();
rows.push(node);
try {
  for (const r of await runRuntimes()) {
    // The same files, not a subset: a runtime that ran fewer tests than Node did per build fails.
    const missing = node.conformancePerBuild ? Math.max(0, node.conformancePerBuild - r.passed - r.failed) : 0;
    if (missing > 0) console.log(`FAIL [${r.engine} ${r.build}] ran ${r.passed + r.failed} conformance tests, Node ran ${node.conformancePerBuild} per build`);
    rows.push({ runtime: `${r.engine} ${r.build}`, passed: r.passed, failed: r.failed + (r.failed === 0 ? missing : 0) });
  }
} catch (error) {
  console.error(error);
  rows.push({ runtime: "other runtimes", passed: 0, failed: 1 });
}

console.log("\nruntime                           passed  failed");
for (const row of rows) console.log(`${row.runtime.padEnd(32)} ${String(row.passed).padStart(7)} ${String(row.failed).padStart(7)}`);
const passed = rows.reduce((n, r) => n + r.passed, 0);
const failed = rows.reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
