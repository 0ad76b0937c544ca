package jobs

import (
	"fmt"

	"github.com/granaryhq/granary/internal/sched"
)

// Code is a stable, machine-readable reason. Codes never change meaning;
// the sentences beside them may improve.
type Code string

// The reason codes.
const (
	// Running.
	CodePlacedBest        Code = "placed-best"        // on the eligible model where it is fastest
	CodePlacedOnly        Code = "placed-only"        // on the only model it can run on
	CodePlacedAlternative Code = "placed-alternative" // on a slower model: its share of faster ones went elsewhere
	// Waiting, for now.
	CodeQueued     Code = "queued"     // the policy gave it no share this round
	CodeOutranked  Code = "outranked"  // it has a share, but higher-priority jobs took the devices
	CodeFragmented Code = "fragmented" // enough devices, but no node with its gang free
	CodeReclaimed  Code = "reclaimed"  // ran on devices lent from a team's guarantee, now returned
	CodeNoDevices  Code = "no-devices" // nothing is in service
	// Waiting, and it cannot run on today's fleet.
	CodeNoThroughput Code = "no-throughput"  // zero throughput on every eligible in-service model
	CodeGangTooLarge Code = "gang-too-large" // no node of an eligible model is as large as the gang
	// Final.
	CodeCompleted Code = "completed"
	CodeCancelled Code = "cancelled"
	CodeFailed    Code = "failed"
	CodeSubmitted Code = "submitted" // not yet seen by a round
)

func fromSchedReason(r sched.Reason, j *Job, policy string) Explanation {
	switch r {
	case sched.ReasonNoThroughput:
		return Explanation{CodeNoThroughput, fmt.Sprintf("zero throughput for %s × %d on every in-service model it may use", j.Class, j.Gang)}
	case sched.ReasonGangTooLarge:
		return Explanation{CodeGangTooLarge, fmt.Sprintf("needs %d devices on one node; no in-service node of a model it can run on is that large", j.Gang)}
	case sched.ReasonNoShare:
		return Explanation{CodeQueued, fmt.Sprintf("queued: the %s policy gives it no share of the fleet this round", policy)}
	}
	return Explanation{CodeOutranked, "has a share, but higher-priority jobs took the devices this round"}
}

// explainPlaced says why a job runs on m, comparing with its best
// alternative among the in-service models it may use.
func explainPlaced(j *Job, m string, row []float64, models []string, names Names) Explanation {
	here := tputOn(row, models, m)
	alt, altV := "", 0.0
	for k, o := range models {
		if o != m && row[k] > altV {
			alt, altV = o, row[k]
		}
	}
	switch {
	case alt == "":
		return Explanation{CodePlacedOnly, fmt.Sprintf("placed on %s, the only in-service model it can run on", names.of(m))}
	case here >= altV:
		return Explanation{CodePlacedBest, fmt.Sprintf("placed on %s: %s its throughput on %s", names.of(m), ratio(here/altV), names.of(alt))}
	}
	return Explanation{CodePlacedAlternative, fmt.Sprintf("placed on %s: %s its throughput on %s, whose devices go to other jobs' shares this round", names.of(m), ratio(here/altV), names.of(alt))}
}
