// The all-gather hub on the main thread (Node or a page): each round, waits for
// every rank's payload and sends all of them, in rank order, to every rank.
export function startHub(workers, post, onResult) {
  let round = [];
  return (rank, message) => {
    if (message.type === "result") return onResult(rank, message.result);
    round[rank] = message.payload;
    if (round.filter((p) => p !== undefined).length === workers) {
      const all = round;
      round = [];
      for (let r = 0; r < workers; r++) post(r, all);
    }
  };
}
