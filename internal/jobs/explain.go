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
	CodeQueued      Code = "queued"        // the policy gave it no share this round
	CodeOutranked   Code = "outranked"     // it has a share, but higher-priority jobs took the devices
	CodeFragmented  Code = "fragmented"    // enough devices, but no node with its gang free
	CodeNoShareRoom Code = "no-share-room" // no device it may use has its share free (with its device memory, node CPU and memory)
	CodeNoNodeRoom  Code = "no-node-room"  // its gang's devices are free, but not its CPU or memory on their nodes
	CodeReclaimed   Code = "reclaimed"     // ran on devices lent from a team's guarantee, now returned
	CodeNoDevices   Code = "no-devices"    // nothing is in service
	CodeInvalid     Code = "invalid"       // a derived quantity is not finite; excluded until fixed
	// Waiting, and it cannot run on today's fleet.
	CodeNoThroughput Code = "no-throughput"  // zero throughput on every eligible in-service model
	CodeGangTooLarge Code = "gang-too-large" // no node, nor site, of an eligible model is as large as the gang
	CodeNotAllowed   Code = "not-allowed"    // its allowed/forbidden lists leave no in-service model
	// Final.
	CodeCompleted Code = "completed"
	CodeCancelled Code = "cancelled"
	CodeFailed    Code = "failed"
	CodeSubmitted Code = "submitted" // not yet seen by a round
)

// explainWait turns a sched wait into an explanation. Every sched reason
// maps to a code; an unknown one is an error (a new pipeline stage whose
// reason nobody explains).
func explainWait(w sched.Wait, j *Job, policy string, names Names) (Explanation, error) {
	switch w.Reason {
	case sched.ReasonInvalid:
		return Explanation{CodeInvalid, "a quantity derived for it (remaining steps, weight) is not a finite number; it is excluded until fixed"}, nil
	case sched.ReasonNotAllowed:
		return Explanation{CodeNotAllowed, "its allowed and forbidden models leave none of the in-service models"}, nil
	case sched.ReasonNoThroughput:
		return Explanation{CodeNoThroughput, fmt.Sprintf("zero throughput for %s × %d on every in-service model it may use", j.Class, j.Gang)}, nil
	case sched.ReasonGangTooLarge:
		where := "one site"
		if j.SpanSites {
			where = "the fleet"
		}
		return Explanation{CodeGangTooLarge, fmt.Sprintf("needs %d devices of one model; no in-service node, nor %s, of a model it can run on has that many", j.Gang, where)}, nil
	case sched.ReasonNotYetAllocated:
		return Explanation{CodeQueued, fmt.Sprintf("queued: it arrived after the %s policy's current allocation; it waits for the next one", policy)}, nil
	case sched.ReasonNoShare:
		return Explanation{CodeQueued, fmt.Sprintf("queued: the %s policy gives it no share of the fleet this round", policy)}, nil
	case sched.ReasonOutranked:
		if w.By != "" && w.Model != "" {
			// Team weights between shares and other teams' jobs
			// (sched's fairShares).
			own := "team " + j.Team
			if j.Team == "" {
				own = "jobs without a team"
			}
			return Explanation{CodeOutranked, fmt.Sprintf("team %s goes before %s on %s this round: it has used less device-time there for its weight (team weights split a model between the teams' shares and jobs)", w.By, own, names.of(w.Model))}, nil
		}
		return Explanation{CodeOutranked, "has a share, but higher-priority jobs took the devices this round"}, nil
	case sched.ReasonReclaimed:
		if j.DeviceMilli > 0 {
			return Explanation{CodeReclaimed, fmt.Sprintf("its share (%d milli) of a %s was lent from team %s's guarantee (%d × %s) and is reclaimed this round", j.DeviceMilli, names.of(w.Model), w.By, w.Guarantee, names.of(w.Model))}, nil
		}
		return Explanation{CodeReclaimed, fmt.Sprintf("its %d × %s were lent from team %s's guarantee (%d × %s) and are reclaimed this round", j.Gang, names.of(w.Model), w.By, w.Guarantee, names.of(w.Model))}, nil
	case sched.ReasonFragmented:
		if w.Multi {
			return Explanation{CodeFragmented, fmt.Sprintf("needs %d × %s on whole nodes of one site; no site has that many on free nodes this round (most: %d), nor another model it may use", j.Gang, names.of(w.Model), w.Free)}, nil
		}
		return Explanation{CodeFragmented, fmt.Sprintf("needs %d × %s on one node; no node has %d free this round (most free on one node: %d), nor a node of another model it may use", j.Gang, names.of(w.Model), j.Gang, w.Free)}, nil
	case sched.ReasonNoNodeRoom:
		where := "one node"
		if w.Multi {
			where = "whole nodes of one site"
		}
		return Explanation{CodeNoNodeRoom, fmt.Sprintf("needs %d × %s on %s%s in all (each node its part by devices); the devices are free this round, but not that CPU or memory on their nodes, nor on another model it may use",
			j.Gang, names.of(w.Model), where, withNode(j.CPUMilli, j.MemoryMiB))}, nil
	case sched.ReasonNoShareRoom:
		return Explanation{CodeNoShareRoom, fmt.Sprintf("needs %s (%d milli%s); no device of a model it may use has that much free this round%s",
			j.ShareText(), j.DeviceMilli, memText(j.DeviceMemoryMiB), nodeText(j.CPUMilli, j.MemoryMiB))}, nil
	}
	return Explanation{}, fmt.Errorf("job %s: sched reason %q has no explanation", j.ID, w.Reason)
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

func memText(mib int64) string {
	if mib == 0 {
		return ""
	}
	return fmt.Sprintf(", %d MiB of its memory", mib)
}

func nodeText(cpu, mem int64) string {
	if cpu == 0 && mem == 0 {
		return ""
	}
	return fmt.Sprintf(" on a node with %d milli-cores and %d MiB of memory free", cpu, mem)
}

// withNode names a gang's CPU and memory, those it asks for.
func withNode(cpu, mem int64) string {
	switch {
	case cpu > 0 && mem > 0:
		return fmt.Sprintf(" with %d milli-cores and %d MiB of memory", cpu, mem)
	case cpu > 0:
		return fmt.Sprintf(" with %d milli-cores", cpu)
	}
	return fmt.Sprintf(" with %d MiB of memory", mem)
}
