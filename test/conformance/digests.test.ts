// Bit-identity across runtimes and builds: the battery's digests must equal
// the committed golden file exactly (regenerate with `npm run digests` only
// when a change of numerics is intended, and say why in the commit).
import { beforeAll, describe, expect, it } from "vitest";
import { init } from "../../src/index.ts";
import golden from "../golden/digests.json";
import { testBuild } from "../support/build.ts";
import { BATTERY, caseName, FAMILY_BATTERY, familyCaseName, runCase, runFamilyCase } from "../support/digest-battery.ts";

const goldenCases = (golden as { cases: Record<string, Record<string, string>> }).cases;

beforeAll(async () => {
  await init({ build: testBuild() });
});

describe("golden digests", () => {
  it("the golden file covers exactly the battery", () => {
    expect(Object.keys(goldenCases).sort()).toEqual([...BATTERY.map(caseName), ...FAMILY_BATTERY.map(familyCaseName)].sort());
  });

  BATTERY.forEach((c, index) => {
    it(`${caseName(c)} reproduces the golden bits (build ${testBuild()})`, () => {
      expect(runCase(c, 1000 + index)).toEqual(goldenCases[caseName(c)]);
    });
  });

  FAMILY_BATTERY.forEach((c, index) => {
    it(`${familyCaseName(c)} reproduces the golden bits (build ${testBuild()})`, () => {
      expect(runFamilyCase(c, 2000 + index)).toEqual(goldenCases[familyCaseName(c)]);
    });
  });
});
