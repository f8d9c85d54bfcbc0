// The subset of vitest's API the conformance suite uses, runtime-neutral, so
// the same test files run in Deno, Bun and browsers (bundled with esbuild,
// "vitest" aliased to this file).

type Hook = () => unknown | Promise<unknown>;
interface TestCase { name: string; fn: Hook; skip: boolean }
interface Suite { name: string; tests: TestCase[]; suites: Suite[]; beforeAll: Hook[]; afterAll: Hook[]; beforeEach: Hook[]; afterEach: Hook[] }

const newSuite = (name: string): Suite => ({ name, tests: [], suites: [], beforeAll: [], afterAll: [], beforeEach: [], afterEach: [] });
const files: Suite[] = [];
let current: Suite = newSuite("");

/** Starts collecting the tests of one file. */
export function beginFile(name: string): void {
  current = newSuite(name);
  files.push(current);
}

function format(template: string, args: unknown[]): string {
  let i = 0;
  return template.replace(/%[sidfjo%]/g, (token) => {
    if (token === "%%") return "%";
    const value = args[i++];
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  });
}

function eachOf<F>(register: (name: string, fn: F) => void) {
  return (rows: readonly unknown[]) => (template: string, fn: (...args: unknown[]) => unknown) => {
    for (const row of rows) {
      const args = Array.isArray(row) ? row : [row];
      register(format(template, args), (() => fn(...args)) as F);
    }
  };
}

function registerTest(name: string, fn: Hook, skip = false): void {
  current.tests.push({ name, fn, skip });
}

function registerSuite(name: string, body: () => void): void {
  const parent = current;
  const suite = newSuite(name);
  parent.suites.push(suite);
  current = suite;
  try {
    body();
  } finally {
    current = parent;
  }
}

export const it = Object.assign(registerTest, {
  each: eachOf<Hook>(registerTest),
  skip: (name: string, fn: Hook) => registerTest(name, fn, true),
});
export const test = it;
export const describe = Object.assign(registerSuite, { each: eachOf<() => void>(registerSuite) });
export const beforeAll = (fn: Hook) => current.beforeAll.push(fn);
export const afterAll = (fn: Hook) => current.afterAll.push(fn);
export const beforeEach = (fn: Hook) => current.beforeEach.push(fn);
export const afterEach = (fn: Hook) => current.afterEach.push(fn);

// ---- expect ----

class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(value: unknown): string {
  if (typeof value === "number" || typeof value === "bigint") return Object.is(value, -0) ? "-0" : String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    const text = JSON.stringify(value, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v));
    return text && text.length > 200 ? `${text.slice(0, 200)}…` : String(text);
  } catch {
    return String(value);
  }
}

function equals(a: unknown, b: unknown, strict: boolean): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
    return x.length === y.length && Array.from(x).every((v, i) => Object.is(v, y[i]));
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keys = (o: object) => Object.keys(o).filter((k) => strict || (o as Record<string, unknown>)[k] !== undefined);
  const ka = keys(a), kb = keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => equals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], strict));
}

function matchesObject(actual: unknown, expected: unknown): boolean {
  if (typeof expected !== "object" || expected === null) return Object.is(actual, expected) || equals(actual, expected, false);
  if (typeof actual !== "object" || actual === null) return false;
  return Object.keys(expected).every((k) => matchesObject((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k]));
}

function thrownMatches(error: unknown, expected: unknown): boolean {
  if (expected === undefined) return true;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof expected === "string") return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  if (typeof expected === "function") return error instanceof (expected as new () => unknown);
  if (expected instanceof Error) return message === expected.message;
  return matchesObject(error, expected);
}

type Matchers = Record<string, (...args: any[]) => any>;

function matchers(actual: unknown, negate: boolean, note: string | undefined): Matchers {
  const check = (pass: boolean, describeFailure: () => string) => {
    if (pass === negate) throw new AssertionError(`${note ? `${note}: ` : ""}${negate ? "not: " : ""}${describeFailure()}`);
  };
  const num = () => actual as number;
  return {
    toBe: (e: unknown) => check(Object.is(actual, e), () => `expected ${show(actual)} to be ${show(e)}`),
    toEqual: (e: unknown) => check(equals(actual, e, false), () => `expected ${show(actual)} to equal ${show(e)}`),
    toStrictEqual: (e: unknown) => check(equals(actual, e, true), () => `expected ${show(actual)} to strictly equal ${show(e)}`),
    toBeCloseTo: (e: number, digits = 2) => check(Math.abs(num() - e) < 10 ** -digits / 2, () => `expected ${show(actual)} to be close to ${e}`),
    toBeLessThan: (e: number) => check(num() < e, () => `expected ${show(actual)} to be less than ${e}`),
    toBeLessThanOrEqual: (e: number) => check(num() <= e, () => `expected ${show(actual)} to be less than or equal to ${e}`),
    toBeGreaterThan: (e: number) => check(num() > e, () => `expected ${show(actual)} to be greater than ${e}`),
    toBeGreaterThanOrEqual: (e: number) => check(num() >= e, () => `expected ${show(actual)} to be greater than or equal to ${e}`),
    toBeTruthy: () => check(Boolean(actual), () => `expected ${show(actual)} to be truthy`),
    toBeFalsy: () => check(!actual, () => `expected ${show(actual)} to be falsy`),
    toBeNull: () => check(actual === null, () => `expected ${show(actual)} to be null`),
    toBeDefined: () => check(actual !== undefined, () => `expected value to be defined`),
    toBeUndefined: () => check(actual === undefined, () => `expected ${show(actual)} to be undefined`),
    toBeNaN: () => check(Number.isNaN(actual), () => `expected ${show(actual)} to be NaN`),
    toContain: (e: unknown) => check((actual as { includes(v: unknown): boolean }).includes(e), () => `expected ${show(actual)} to contain ${show(e)}`),
    toHaveLength: (e: number) => check((actual as { length: number }).length === e, () => `expected length ${(actual as { length: number }).length} to be ${e}`),
    toHaveProperty: (key: string) => check(actual != null && key in Object(actual), () => `expected ${show(actual)} to have property ${key}`),
    toBeInstanceOf: (e: new (...a: never[]) => unknown) => check(actual instanceof e, () => `expected ${show(actual)} to be an instance of ${e.name}`),
    toMatchObject: (e: object) => check(matchesObject(actual, e), () => `expected ${show(actual)} to match ${show(e)}`),
    toMatch: (e: RegExp | string) => check(typeof e === "string" ? String(actual).includes(e) : e.test(String(actual)), () => `expected ${show(actual)} to match ${String(e)}`),
    toThrow: (e?: unknown) => {
      let thrown = false, error: unknown;
      try {
        (actual as () => unknown)();
      } catch (caught) {
        thrown = true;
        error = caught;
      }
      check(thrown && thrownMatches(error, e), () => (thrown ? `expected thrown ${show(error)} to match ${show(e)}` : "expected function to throw"));
    },
  };
}

function asyncMatchers(promise: Promise<unknown>, settle: "resolves" | "rejects", negate: boolean, note?: string): Matchers {
  const base = matchers(undefined, negate, note);
  return Object.fromEntries(Object.keys(base).map((name) => [name, async (...args: unknown[]) => {
    let value: unknown;
    try {
      value = await promise;
    } catch (error) {
      if (settle === "resolves") throw new AssertionError(`expected promise to resolve, it rejected with ${show(error)}`);
      return matchers(error, negate, note)[name](...args);
    }
    if (settle === "rejects") throw new AssertionError(`expected promise to reject, it resolved with ${show(value)}`);
    return matchers(value, negate, note)[name](...args);
  }]));
}

export function expect(actual: unknown, note?: string) {
  const base = matchers(actual, false, note);
  (base as Matchers & { toThrowError: unknown }).toThrowError = base.toThrow;
  const negated = matchers(actual, true, note);
  (negated as Matchers & { toThrowError: unknown }).toThrowError = negated.toThrow;
  return Object.assign(base, {
    not: negated,
    resolves: Object.assign(asyncMatchers(actual as Promise<unknown>, "resolves", false, note), { not: asyncMatchers(actual as Promise<unknown>, "resolves", true, note) }),
    rejects: Object.assign(asyncMatchers(actual as Promise<unknown>, "rejects", false, note), { not: asyncMatchers(actual as Promise<unknown>, "rejects", true, note) }),
  });
}

// ---- running ----

export interface Outcome { name: string; passed: boolean; error?: string }

async function runSuite(suite: Suite, path: string[], inherited: { beforeEach: Hook[]; afterEach: Hook[] }, outcomes: Outcome[]): Promise<void> {
  const names = suite.name ? [...path, suite.name] : path;
  const hooks = { beforeEach: [...inherited.beforeEach, ...suite.beforeEach], afterEach: [...suite.afterEach, ...inherited.afterEach] };
  const all = [...collect(suite)];
  try {
    for (const hook of suite.beforeAll) await hook();
  } catch (error) {
    for (const name of all) outcomes.push({ name: [...names, name].join(" > "), passed: false, error: `beforeAll failed: ${describeError(error)}` });
    return;
  }
  for (const t of suite.tests) {
    if (t.skip) continue;
    const name = [...names, t.name].join(" > ");
    try {
      for (const hook of hooks.beforeEach) await hook();
      await t.fn();
      for (const hook of hooks.afterEach) await hook();
      outcomes.push({ name, passed: true });
    } catch (error) {
      outcomes.push({ name, passed: false, error: describeError(error) });
    }
  }
  for (const child of suite.suites) await runSuite(child, names, hooks, outcomes);
  for (const hook of suite.afterAll) await hook();
}

function* collect(suite: Suite, prefix: string[] = []): Generator<string> {
  for (const t of suite.tests) if (!t.skip) yield [...prefix, t.name].join(" > ");
  for (const child of suite.suites) yield* collect(child, [...prefix, child.name]);
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Runs every collected file; returns one outcome per test. */
export async function runCollected(): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const file of files) await runSuite(file, [], { beforeEach: [], afterEach: [] }, outcomes);
  return outcomes;
}
