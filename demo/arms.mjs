// The demo's arms: the paper's comparison at one learning rate, and a higher
// one at which the plain sigmoid network saturates and stalls.
export const BASE_LEARNING_RATE = 0.5;
export const HIGH_LEARNING_RATE = 10;

export const DEFAULT_ARMS = [
  { name: "plain", normalize: false, learningRate: BASE_LEARNING_RATE },
  { name: "BN", normalize: true, learningRate: BASE_LEARNING_RATE },
  { name: "plain, high LR", normalize: false, learningRate: HIGH_LEARNING_RATE },
  { name: "BN, high LR", normalize: true, learningRate: HIGH_LEARNING_RATE },
];

/** The first checkpoint step at which `history` reaches `accuracy`, or null. */
export function crossingStep(history, accuracy) {
  return history.find((entry) => entry.accuracy >= accuracy)?.step ?? null;
}
