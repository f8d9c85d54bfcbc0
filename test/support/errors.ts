// The BatchNormError an action throws; any other outcome fails the test.
import { BatchNormError } from "../../src/index.ts";

export function caughtError(action: () => unknown): BatchNormError {
  try {
    action();
  } catch (error) {
    if (error instanceof BatchNormError) return error;
    throw error;
  }
  throw new Error("expected a BatchNormError");
}
