// Package forecast answers "how long does the stockpile last?": a seeded,
// month-by-month Monte Carlo of accelerator supply (devices in service that
// fail, retire, arrive in deliveries or come out of a boxed reserve) against
// compute demand (inference that grows, training runs, model generations,
// divided by software efficiency). It reports the runway — the first month
// demand exceeds supply — as P10/P50/P90 over paths, which training runs
// finish on time, the supply and demand series with bands, and the months
// each of three levers (a bigger reserve, software efficiency, domestic
// deliveries) buys, each rerun with the same seed.
//
// The package is pure: plans are parsed from bytes (ParsePlan), randomness
// is a seeded *rand.Rand (Options.Rand, else derived from the plan's seed),
// and time is the plan's start month, never the clock. Run is the single
// entry point for the CLI (granary runway) and the HTTP API
// (POST /api/v1/runway). The semantics are written out in docs/runway.md.
package forecast
