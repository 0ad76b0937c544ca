// Package demo makes the believable stockpile that `granary serve --demo`
// seeds: about 20,000 accelerators of the models a Chinese AI lab actually
// holds (A800, H800, H20, L20, Ascend 910B3 and 910C, Kunlunxin P800, a
// Cambricon and a Hygon pool) over three sites, some boxed in reserve, some
// failed or in maintenance, a few retired, each with an event history that
// ends in its current state. It is pure: randomness and the clock come in,
// a store batch goes out. Costs and dates are illustrative, not sourced.
package demo

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// Site is one datacenter of the demo fleet.
type Site struct {
	Name   string // e.g. "bj-yizhuang"
	Prefix string // hostname prefix, e.g. "bj1"
}

// Sites are the three demo sites.
var Sites = []Site{
	{Name: "beijing-yizhuang", Prefix: "bj1"},
	{Name: "shanghai-lingang", Prefix: "sh2"},
	{Name: "guizhou-gui-an", Prefix: "gy1"},
}

// Lot is one purchase of one model: how many, where, when, at what price,
// and how it is used.
type Lot struct {
	Model       string  // catalog id
	Serial      string  // serial prefix
	Count       int     // devices at scale 1
	Site        int     // index into Sites
	Pool        string  // scheduling pool
	Fabric      string  // interconnect kind, names the nodes' domains
	PerNode     int     // devices per node
	From, To    string  // delivery window, YYYY-MM-DD
	CostUSD     float64 // unit price, illustrative
	ReserveFrac float64 // share boxed in reserve (never racked)
	FailRate    float64 // share that failed at least once
	RetireFrac  float64 // share retired
}

// Hosts are the CPU (milli-cores) and memory (MiB) of one node of each
// model, what the live scheduler counts jobs' cpu_milli and memory_mib
// against. Sourced where a vendor system is the usual host:
//   - H800: NVIDIA DGX H800 (the DGX H100 datasheet's system): 2× Xeon
//     Platinum 8480C, 56 cores each, and 2 TB of system memory.
//   - A800: NVIDIA DGX A800 (the DGX A100 640 GB datasheet's system): 2×
//     AMD EPYC 7742, 64 cores each, and 2 TB.
//
// The others are illustrative, of the usual size of an 8-device server of
// that class (no vendor system with published figures is assumed): H20 as
// the H800's HGX host; L20 (PCIe) 2× 32 cores, 1 TiB; Ascend 910B3 and
// 910C 4× Kunpeng 920 of 48 cores (the Atlas 800T A2 has four Kunpeng
// 920s), 1 TiB; Kunlunxin P800, Cambricon MLU590 and Hygon K100 2× 64
// cores, 1 TiB.
var Hosts = map[string][2]int64{
	"h800-sxm5-80gb": {112_000, 2 << 20},
	"a800-sxm4-80gb": {128_000, 2 << 20},
	"h20-96gb":       {112_000, 2 << 20},
	"l20-48gb":       {64_000, 1 << 20},
	"ascend-910b3":   {192_000, 1 << 20},
	"ascend-910c":    {192_000, 1 << 20},
	"kunlunxin-p800": {128_000, 1 << 20},
	"mlu590":         {128_000, 1 << 20},
	"hygon-k100-ai":  {128_000, 1 << 20},
}

// Lots is the demo stockpile at scale 1 (19,968 devices).
var Lots = []Lot{
	{Model: "a800-sxm4-80gb", Serial: "A800", Count: 2048, Site: 0, Pool: "training", Fabric: "ib", PerNode: 8, From: "2023-02-01", To: "2023-08-31", CostUSD: 19500, ReserveFrac: 0.02, FailRate: 0.06, RetireFrac: 0.015},
	{Model: "a800-sxm4-80gb", Serial: "A800", Count: 1024, Site: 1, Pool: "training", Fabric: "ib", PerNode: 8, From: "2023-04-01", To: "2023-09-30", CostUSD: 20500, ReserveFrac: 0.03, FailRate: 0.05, RetireFrac: 0.01},
	{Model: "h800-sxm5-80gb", Serial: "H800", Count: 2048, Site: 0, Pool: "training", Fabric: "ib", PerNode: 8, From: "2023-05-15", To: "2023-10-31", CostUSD: 31000, ReserveFrac: 0.04, FailRate: 0.04, RetireFrac: 0.004},
	{Model: "h20-96gb", Serial: "H20", Count: 2560, Site: 1, Pool: "inference", Fabric: "roce", PerNode: 8, From: "2024-03-01", To: "2024-10-31", CostUSD: 13500, ReserveFrac: 0.18, FailRate: 0.02, RetireFrac: 0},
	{Model: "h20-96gb", Serial: "H20", Count: 1536, Site: 2, Pool: "inference", Fabric: "roce", PerNode: 8, From: "2024-05-01", To: "2025-01-31", CostUSD: 13000, ReserveFrac: 0.35, FailRate: 0.015, RetireFrac: 0},
	{Model: "l20-48gb", Serial: "L20", Count: 1536, Site: 2, Pool: "inference", Fabric: "pcie", PerNode: 8, From: "2024-04-01", To: "2024-11-30", CostUSD: 6200, ReserveFrac: 0.10, FailRate: 0.02, RetireFrac: 0},
	{Model: "ascend-910b3", Serial: "910B3", Count: 4096, Site: 1, Pool: "training", Fabric: "hccs", PerNode: 8, From: "2024-01-15", To: "2024-12-15", CostUSD: 16000, ReserveFrac: 0.06, FailRate: 0.08, RetireFrac: 0.003},
	{Model: "ascend-910c", Serial: "910C", Count: 2048, Site: 2, Pool: "training", Fabric: "hccs", PerNode: 8, From: "2025-03-01", To: "2025-10-31", CostUSD: 28000, ReserveFrac: 0.25, FailRate: 0.05, RetireFrac: 0},
	{Model: "kunlunxin-p800", Serial: "P800", Count: 1536, Site: 0, Pool: "inference", Fabric: "xpu-link", PerNode: 8, From: "2025-02-01", To: "2025-09-30", CostUSD: 11000, ReserveFrac: 0.12, FailRate: 0.03, RetireFrac: 0},
	{Model: "mlu590", Serial: "MLU590", Count: 768, Site: 0, Pool: "cambricon", Fabric: "mlu-link", PerNode: 8, From: "2024-06-01", To: "2024-12-31", CostUSD: 12000, ReserveFrac: 0.08, FailRate: 0.04, RetireFrac: 0.005},
	{Model: "hygon-k100-ai", Serial: "K100", Count: 768, Site: 1, Pool: "hygon", Fabric: "xgmi", PerNode: 8, From: "2024-08-01", To: "2025-02-28", CostUSD: 9000, ReserveFrac: 0.08, FailRate: 0.03, RetireFrac: 0.005},
}

// Config says how big a demo to make and from what randomness.
type Config struct {
	Rand  *rand.Rand // required; the same seed gives the same fleet
	Now   time.Time  // no event is later than this
	Scale float64    // 1 ≈ 20,000 devices; 0 means 1
}

// Actor is the actor of every demo event.
const Actor = "demo"

// Generate builds the demo stockpile as one store batch: nodes, devices and
// their events ordered by time (so the store's sequence follows time). Every
// device's last event ends in its current state, and every event is an
// allowed transition (inventory.CheckTransition).
func Generate(c Config) (inventory.Batch, error) {
	if c.Rand == nil {
		return inventory.Batch{}, fmt.Errorf("demo: Config.Rand is required")
	}
	if c.Scale <= 0 {
		c.Scale = 1
	}
	g := gen{r: c.Rand, now: c.Now.UTC(), serials: map[string]int{}}
	for i, lot := range Lots {
		n := int(float64(lot.Count)*c.Scale + 0.5)
		if n < 1 {
			n = 1
		}
		if err := g.lot(i, lot, n); err != nil {
			return inventory.Batch{}, err
		}
	}
	sort.SliceStable(g.b.Events, func(i, j int) bool { return g.b.Events[i].At.Before(g.b.Events[j].At) })
	return g.b, nil
}

type gen struct {
	r       *rand.Rand
	now     time.Time
	b       inventory.Batch
	serials map[string]int // serial prefix → next number
	nodes   map[string]int // site prefix+model → nodes made
}

var (
	failReasons = []string{
		"XID 79: GPU has fallen off the bus",
		"uncorrectable HBM ECC errors",
		"interconnect link CRC errors above threshold",
		"overheating: throttled below 50% clocks",
		"PCIe AER fatal errors",
		"driver hang during collective, device reset failed",
	}
	repairReasons = []string{"reseated and passed burn-in", "vendor RMA: board replaced", "firmware reflashed, passed burn-in", "fan module replaced"}
	pullReasons   = []string{"pulled to strategic reserve", "node decommissioned for rack move", "held back for next model generation"}
)

func (g *gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

// between returns a random time in [a, b).
func (g *gen) between(a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(g.r.Int64N(int64(b.Sub(a)))))
}

func (g *gen) lot(idx int, lot Lot, n int) error {
	from, err := time.Parse(time.DateOnly, lot.From)
	if err != nil {
		return fmt.Errorf("demo: lot %d: %w", idx, err)
	}
	to, err := time.Parse(time.DateOnly, lot.To)
	if err != nil {
		return fmt.Errorf("demo: lot %d: %w", idx, err)
	}
	if to.After(g.now) {
		to = g.now
	}
	if from.After(to) {
		from = to
	}
	site := Sites[lot.Site]
	po := fmt.Sprintf("PO-%s-%03d", from.Format("2006"), 100+idx)
	reserve := int(float64(n)*lot.ReserveFrac + 0.5)
	var node string
	var slot int
	for i := range n {
		no := g.serials[lot.Serial]
		g.serials[lot.Serial] = no + 1
		d := inventory.Device{
			Serial:  fmt.Sprintf("%s-%06d", lot.Serial, no+1),
			Model:   lot.Model,
			Site:    site.Name,
			Pool:    lot.Pool,
			CostUSD: ptr(lot.CostUSD),
			Labels:  map[string]string{"po": po},
		}
		arrived := g.between(from, to.Add(24*time.Hour))
		d.Acquired = day(arrived)
		d.WarrantyUntil = d.Acquired.AddDate(3, 0, 0)
		var evs []inventory.Event
		ev := func(at time.Time, to fleet.DeviceState, reason string) {
			if at.After(g.now) {
				at = g.now
			}
			from := fleet.DeviceState("")
			if len(evs) > 0 {
				from = evs[len(evs)-1].To
				if at.Before(evs[len(evs)-1].At) {
					at = evs[len(evs)-1].At
				}
			}
			evs = append(evs, inventory.Event{Serial: d.Serial, From: from, To: to, Reason: reason, Actor: Actor, At: at})
		}
		ev(arrived, fleet.Reserve, "received from vendor, "+po+", boxed")
		if i >= n-reserve {
			// Boxed in the site's store room: never racked.
			d.Labels["boxed"] = "true"
		} else {
			if slot == 0 {
				node = g.node(site, lot)
			}
			slot = (slot + 1) % lot.PerNode
			d.Node = node
			t := arrived.Add(time.Duration(7+g.r.IntN(35)) * 24 * time.Hour)
			ev(t, fleet.InService, "racked in "+node+", passed burn-in")
			age := g.now.Sub(t)
			if age > 0 && g.r.Float64() < lot.FailRate {
				tf := t.Add(time.Duration(g.r.Int64N(int64(age))))
				ev(tf, fleet.Failed, g.pick(failReasons))
				switch u := g.r.Float64(); {
				case u < lot.RetireFrac/lot.FailRate:
					ev(tf.Add(time.Duration(3+g.r.IntN(20))*24*time.Hour), fleet.Retired, "beyond economical repair")
				case u < 0.55:
					// still failed, waiting for a technician
				case u < 0.70:
					ev(tf.Add(time.Duration(1+g.r.IntN(5))*24*time.Hour), fleet.Maintenance, "ticket opened with vendor")
				default:
					tm := tf.Add(time.Duration(1+g.r.IntN(5)) * 24 * time.Hour)
					ev(tm, fleet.Maintenance, "ticket opened with vendor")
					ev(tm.Add(time.Duration(2+g.r.IntN(20))*24*time.Hour), fleet.InService, g.pick(repairReasons))
				}
			} else if g.r.Float64() < 0.03 {
				ev(t.Add(time.Duration(g.r.Int64N(int64(max(age, 1))))), fleet.Reserve, g.pick(pullReasons))
			}
		}
		last := evs[len(evs)-1]
		d.State = last.To
		d.UpdatedAt = last.At
		for k := 1; k < len(evs); k++ {
			if err := inventory.CheckTransition(d.Serial, evs[k].From, evs[k].To); err != nil {
				return fmt.Errorf("demo: bug: %w", err)
			}
		}
		g.b.Devices = append(g.b.Devices, d)
		g.b.Events = append(g.b.Events, evs...)
	}
	return nil
}

// node makes the next node of a lot at a site. Nodes are grouped 32 to an
// interconnect domain.
func (g *gen) node(site Site, lot Lot) string {
	if g.nodes == nil {
		g.nodes = map[string]int{}
	}
	key := site.Prefix + "-" + lot.Serial
	k := g.nodes[key]
	g.nodes[key] = k + 1
	host := fmt.Sprintf("%s-%s-%04d", site.Prefix, lower(lot.Serial), k+1)
	g.b.Nodes = append(g.b.Nodes, inventory.Node{
		Hostname:           host,
		Site:               site.Name,
		InterconnectDomain: fmt.Sprintf("%s-%s-%s-%02d", site.Prefix, lower(lot.Serial), lot.Fabric, k/32+1),
		CPUMilli:           Hosts[lot.Model][0],
		MemoryMiB:          Hosts[lot.Model][1],
	})
	return host
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func ptr(v float64) *float64 { return &v }
