// Preloaded into the aggregator processes of `npm run bench -- scale-out` (with --expose-gc): a
// full garbage collection on SIGUSR2, so the bench reads RSS without start-up garbage in it.
process.on('SIGUSR2', () => globalThis.gc?.());
