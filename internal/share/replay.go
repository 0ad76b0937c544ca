package share

import (
	"cmp"
	"container/heap"
	"slices"
)

// Timed is a request with the time it arrives and how long it runs once
// placed, in seconds.
type Timed struct {
	Req      Request
	Arrive   float64
	Duration float64
}

// Replayed is the outcome of replaying timed requests in time.
type Replayed struct {
	Placed, Never int
	// MeanWait and MaxWait are seconds from arrival to placement over the
	// placed requests.
	MeanWait, MaxWait float64
	// UtilPct is the time-weighted mean of the allocated device capacity,
	// % of the cluster's, from the first arrival to the last departure.
	UtilPct float64
}

// Replay places timed requests on c with p as time passes: at each instant
// the requests that finish leave first, then the arrivals join the queue,
// and when something has arrived or left, the queue is tried in arrival
// order (a request that does not fit waits; those behind it may pass). A
// placed request leaves Duration seconds after its placement; requests
// still waiting when nothing is left to leave never run. c is changed.
func Replay(c *Cluster, p Packer, reqs []Timed) Replayed {
	order := make([]int, len(reqs))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(reqs[a].Arrive, reqs[b].Arrive) })
	var out Replayed
	var running departures
	var queue []int
	var waitSum, area, last, first float64
	capacity := float64(c.CapacityMilli())
	advance := func(t float64) {
		if capacity > 0 {
			area += float64(c.UsedMilli()) / capacity * (t - last)
		}
		last = t
	}
	if len(order) > 0 {
		first, last = reqs[order[0]].Arrive, reqs[order[0]].Arrive
	}
	next := 0
	for next < len(order) || running.Len() > 0 {
		t := 0.0
		switch {
		case running.Len() > 0 && (next == len(order) || running[0].at <= reqs[order[next]].Arrive):
			t = running[0].at
		default:
			t = reqs[order[next]].Arrive
		}
		advance(t)
		for running.Len() > 0 && running[0].at <= t {
			d := heap.Pop(&running).(departure)
			if err := c.Release(reqs[d.k].Req, d.at0); err != nil {
				panic("share: replay: " + err.Error())
			}
		}
		for next < len(order) && reqs[order[next]].Arrive <= t {
			queue = append(queue, order[next])
			next++
		}
		queue = slices.DeleteFunc(queue, func(k int) bool {
			pl, ok := p.Place(c, reqs[k].Req)
			if !ok {
				return false
			}
			if err := c.Assign(reqs[k].Req, pl); err != nil {
				panic("share: packer returned an illegal placement: " + err.Error())
			}
			w := t - reqs[k].Arrive
			waitSum += w
			out.MaxWait = max(out.MaxWait, w)
			out.Placed++
			heap.Push(&running, departure{at: t + max(0, reqs[k].Duration), k: k, at0: pl})
			return true
		})
	}
	out.Never = len(queue)
	if out.Placed > 0 {
		out.MeanWait = waitSum / float64(out.Placed)
	}
	if last > first {
		out.UtilPct = 100 * area / (last - first)
	}
	return out
}

type departure struct {
	at  float64
	k   int
	at0 Placement
}

// departures is a min-heap of departures by time.
type departures []departure

func (h departures) Len() int           { return len(h) }
func (h departures) Less(i, j int) bool { return h[i].at < h[j].at }
func (h departures) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *departures) Push(x any)        { *h = append(*h, x.(departure)) }
func (h *departures) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
