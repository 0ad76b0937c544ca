package sched

// Reason is a stable code saying why a job is not running in the next
// round ("why is my job pending?"). Codes never change meaning; Message
// gives a sentence. Every stage that keeps a job from running records one.
type Reason string

// The reason codes, by the stage that records them.
const (
	// filter: the job is excluded before the policy sees it.

	// ReasonInvalid: a derived quantity (remaining steps, weight, arrival)
	// is not a finite number.
	ReasonInvalid Reason = "invalid"
	// ReasonNotAllowed: its allowed/forbidden lists leave no model of the
	// fleet.
	ReasonNotAllowed Reason = "not-allowed"
	// ReasonNoThroughput: zero throughput on every model it may use.
	ReasonNoThroughput Reason = "no-throughput"
	// ReasonGangTooLarge: no model it can run on has a node as large as the
	// gang, nor a site (or, when it may span sites, a fleet) with that
	// many devices.
	ReasonGangTooLarge Reason = "gang-too-large"

	// allocate and prioritize.

	// ReasonNotYetAllocated: the job arrived after the allocation in force
	// was computed; it waits for the next one.
	ReasonNotYetAllocated Reason = "not-yet-allocated"
	// ReasonNoShare: the policy gave it no share of any model this time.
	ReasonNoShare Reason = "no-share"
	// ReasonOutranked: it has a share, but higher-priority jobs took the
	// devices this round.
	ReasonOutranked Reason = "outranked"

	// guarantees.

	// ReasonReclaimed: it ran on devices lent from another team's
	// guarantee, which that team takes back this round.
	ReasonReclaimed Reason = "reclaimed"

	// pack.

	// ReasonFragmented: enough devices of the chosen model are free, but
	// not on one node (or, for a multi-node gang, not on enough whole nodes
	// of one site), and no other model it may use has room.
	ReasonFragmented Reason = "fragmented"
	// ReasonNoNodeRoom: its gang's devices are free on a node (or on whole
	// nodes of a site) of the chosen model, but not with the CPU or memory
	// it asks for there (noderoom.go), and no other model it may use has
	// room.
	ReasonNoNodeRoom Reason = "no-node-room"

	// pack for shares (fraction.go).

	// ReasonNoShareRoom: no device of a model it may use has its share
	// free (with its device memory, and its node's CPU and memory) this
	// round.
	ReasonNoShareRoom Reason = "no-share-room"
)

// Reasons lists every reason code (tests check that every consumer maps
// each of them).
var Reasons = []Reason{ReasonInvalid, ReasonNotAllowed, ReasonNoThroughput, ReasonGangTooLarge,
	ReasonNotYetAllocated, ReasonNoShare, ReasonOutranked, ReasonReclaimed, ReasonFragmented, ReasonNoNodeRoom, ReasonNoShareRoom}

var messages = map[Reason]string{
	ReasonInvalid:         "a derived quantity of the job is not a finite number",
	ReasonNotAllowed:      "its allowed and forbidden models leave none of the fleet's",
	ReasonNoThroughput:    "zero throughput on every accelerator model it may use",
	ReasonGangTooLarge:    "gang larger than any node, site or fleet of the models it can run on",
	ReasonNotYetAllocated: "arrived after the current allocation; waits for the next one",
	ReasonNoShare:         "policy gave it no share this round",
	ReasonOutranked:       "devices taken by higher-priority jobs this round",
	ReasonReclaimed:       "its devices were lent from another team's guarantee and are reclaimed",
	ReasonFragmented:      "no node (or site, for a multi-node gang) has its gang free this round",
	ReasonNoNodeRoom:      "its gang's devices are free, but not its CPU or memory on their nodes, this round",
	ReasonNoShareRoom:     "no device of a model it may use has its share free this round",
}

// Message is a sentence for the reason ("" for an unknown code).
func (r Reason) Message() string { return messages[r] }

// Never reports whether r means the job can never run on this fleet.
func (r Reason) Never() bool {
	return r == ReasonNoThroughput || r == ReasonGangTooLarge || r == ReasonNotAllowed || r == ReasonInvalid
}
