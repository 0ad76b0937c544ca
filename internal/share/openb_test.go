package share_test

import (
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/share"
	"github.com/granaryhq/granary/internal/sharedtest"
	"github.com/granaryhq/granary/internal/trace"
)

// openbSetup reads the shared openb GPU node list and a pod list.
func openbSetup(t testing.TB, workload string) share.Setup {
	t.Helper()
	dir := sharedtest.File(t, "traces/alibaba-gpu-v2023-openb")
	nf, err := os.Open(filepath.Join(dir, "openb_node_list_gpu_node.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	nodes, err := trace.ReadOpenBNodes(nf, "nodes")
	if err != nil {
		t.Fatal(err)
	}
	pf, err := os.Open(filepath.Join(dir, workload+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	pods, err := trace.ReadOpenBPods(pf, workload)
	if err != nil {
		t.Fatal(err)
	}
	s := share.Setup{Nodes: nodes, Ratio: 1.3, Popularity: 0.95}
	for _, p := range pods {
		r := p.Req
		r.Preemptible = p.QoS == "BE"
		s.Workload = append(s.Workload, r)
	}
	return s
}

// publishedAlloc returns the artifact's mean allocation rate at 130 %
// arrived over its seeds, per policy, for a workload.
func publishedAlloc(t testing.TB, workload string) map[string]float64 {
	t.Helper()
	f, err := os.Open(sharedtest.File(t, "anchors/fgd/analysis_allo_discrete.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "130" {
			col = i
		}
	}
	sum, n := map[string]float64{}, map[string]int{}
	for _, r := range rows[1:] {
		if r[0] != workload || r[2] != "1.3" {
			continue
		}
		v, err := strconv.ParseFloat(r[col], 64)
		if err != nil {
			t.Fatal(err)
		}
		sum[r[1]] += v
		n[r[1]]++
	}
	for k := range sum {
		sum[k] /= float64(n[k])
	}
	return sum
}

var artifactNames = map[string]string{
	share.Random: "01-Random", share.DotProduct: "02-DotProd", share.GPUClustering: "03-GpuClustering",
	share.GPUPacking: "04-GpuPacking", share.BestFit: "05-BestFit", share.FGD: "06-FGD",
}

// meanFinal is the mean over seeds 42..51 of the allocation rate at
// 130 % arrived.
func meanFinal(t testing.TB, s share.Setup, packer string) float64 {
	var curves [][]float64
	for seed := uint64(42); seed <= 51; seed++ {
		tr, err := s.RunSeed(packer, seed)
		if err != nil {
			t.Fatal(err)
		}
		curves = append(curves, tr.Curve(tr.Alloc, 130))
	}
	return share.MeanCurve(curves)[130]
}

// TestReproducesFGDArtifact: on openb_pod_list_default, each of the six
// policies lands within 1.0 percentage point of the artifact's published
// allocation rate at 130 % arrived (mean of seeds 42..51 on both sides;
// the seeds do not draw the same random numbers, so this compares
// distributions, not runs).
func TestReproducesFGDArtifact(t *testing.T) {
	const workload = "openb_pod_list_default"
	s := openbSetup(t, workload)
	pub := publishedAlloc(t, workload)
	for packer, name := range artifactNames {
		t.Run(packer, func(t *testing.T) {
			t.Parallel()
			want, ok := pub[name]
			if !ok {
				t.Fatalf("no published row for %s", name)
			}
			got := meanFinal(t, s, packer)
			t.Logf("%s: %.2f %% allocated at 130 %% arrived (published %.2f)", packer, got, want)
			if math.Abs(got-want) > 1.0 {
				t.Errorf("%s: %.2f %%, published %.2f %%: more than 1.0 point apart", packer, got, want)
			}
		})
	}
}

// TestGranaryBeatsFGD: on openb_pod_list_default at 130 % arrived, mean of
// seeds 42..51, Granary's packer allocates more of the GPUs than FGD.
func TestGranaryBeatsFGD(t *testing.T) {
	s := openbSetup(t, "openb_pod_list_default")
	got := map[string]float64{}
	for _, p := range []string{share.FGD, share.Granary} {
		got[p] = meanFinal(t, s, p)
	}
	t.Logf("fgd %.2f %%, granary %.2f %% allocated", got[share.FGD], got[share.Granary])
	if got[share.Granary] <= got[share.FGD] {
		t.Fatalf("granary %.2f %% allocated, fgd %.2f %%: granary must allocate more", got[share.Granary], got[share.FGD])
	}
}

// TestPreemptBEOnOpenB: with preemption of BE pods (Setup.PreemptBE), on
// openb_pod_list_default at 130 % arrived, mean of seeds 42..51, Granary's
// packer allocates at least the 96.5 % and more than FGD with the
// same preemption.
func TestPreemptBEOnOpenB(t *testing.T) {
	s := openbSetup(t, "openb_pod_list_default")
	s.PreemptBE = true
	got := map[string]float64{}
	for _, p := range []string{share.FGD, share.Granary} {
		got[p] = meanFinal(t, s, p)
	}
	t.Logf("with --preempt-be: fgd %.2f %%, granary %.2f %% allocated", got[share.FGD], got[share.Granary])
	if got[share.Granary] < 96.5 || got[share.Granary] <= got[share.FGD] {
		t.Fatalf("granary %.2f %%, fgd %.2f %% with preemption: want granary ≥ 96.5 %% and above fgd", got[share.Granary], got[share.FGD])
	}
}

// TestPreemptBECPUScarce (GRANARY_FIGURES=1, a few minutes): on the two
// openb lists where CPU is scarcest, cpu250 and cpu300, at 130 % arrived,
// mean of seeds 42..51, Granary's packer with preemption of BE pods
// allocates at least as much as FGD with it. Before the packer counted the
// CPU of BE CPU-only pods as free under the mode it did not (cpu250
// 97.07 % against 97.09 %, cpu300 93.60 % against 94.05 %). It also logs
// the cores of the CPU-only pods that are not BE (never evicted) left on
// nodes with a whole GPU's worth free at the end.
func TestPreemptBECPUScarce(t *testing.T) {
	if os.Getenv("GRANARY_FIGURES") != "1" {
		t.Skip("set GRANARY_FIGURES=1 for the CPU-scarce openb lists with --preempt-be")
	}
	for _, w := range []string{"openb_pod_list_cpu250", "openb_pod_list_cpu300"} {
		s := openbSetup(t, w)
		s.PreemptBE = true
		alloc := map[string]float64{}
		for _, p := range []string{share.FGD, share.Granary} {
			var cores float64
			var curves [][]float64
			for seed := uint64(42); seed <= 51; seed++ {
				tr, c := runPinned(t, s, p, seed)
				curves = append(curves, tr.Curve(tr.Alloc, 130))
				cores += c / 10
			}
			alloc[p] = share.MeanCurve(curves)[130]
			t.Logf("%s with --preempt-be, %s: %.2f %% allocated; %.0f cores of CPU-only pods that are not BE beside a free GPU at the end",
				w, p, alloc[p], cores)
		}
		if alloc[share.Granary] < alloc[share.FGD] {
			t.Errorf("%s with preemption: granary %.2f %% allocated, fgd %.2f %%: want granary at least fgd", w, alloc[share.Granary], alloc[share.FGD])
		}
	}
}

// runPinned is s.RunSeed(packer, seed) with preemption, built from the
// package's exported steps so that it can watch the packer: it returns the
// trial and the milli-cores/1000 of the CPU-only requests that are not
// preemptible (they are never evicted) on nodes with at least 1000 milli
// of device capacity free at the end. It fails if its trial differs from
// RunSeed's.
func runPinned(t *testing.T, s share.Setup, packer string, seed uint64) (share.Trial, float64) {
	t.Helper()
	c, err := share.NewCluster(s.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	target := share.TargetShapes(s.Workload, s.Popularity)
	rng := rand.New(rand.NewPCG(seed, 0x6772616e617279))
	arrivals := share.Inflate(rng, s.Workload, c.CapacityMilli(), s.Ratio)
	p, err := share.New(packer, share.Options{Rand: rng, Target: target, PreemptBE: true})
	if err != nil {
		t.Fatal(err)
	}
	w := &pinnedWatch{p: p}
	tr := share.RunPreempting(c, w, arrivals, target, rand.New(rand.NewPCG(seed, 0x7072656d707421)))
	want, err := s.RunSeed(packer, seed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr.Alloc, want.Alloc) {
		t.Fatalf("runPinned(%s, %d) is not RunSeed's run", packer, seed)
	}
	var cores float64
	for _, x := range w.placed {
		if c.FreeMilli(x.Node) >= share.MilliPerDevice {
			cores += float64(x.cpu) / 1000
		}
	}
	return tr, cores
}

// pinnedWatch is a packer that records where the CPU-only requests that
// are not preemptible go.
type pinnedWatch struct {
	p      share.Packer
	placed []pinnedPod
}

type pinnedPod struct {
	share.Placement
	cpu int64 // milli-cores
}

func (w *pinnedWatch) Place(c *share.Cluster, r share.Request) (share.Placement, bool) {
	pl, ok := w.p.Place(c, r)
	if ok && !r.Preemptible && r.Devices == 0 {
		w.placed = append(w.placed, pinnedPod{pl, r.CPU})
	}
	return pl, ok
}

// BenchmarkExperiment times one 130 % experiment on the full openb
// cluster (1,213 nodes, about 10,800 arrivals) per packer, and reports the
// time per placement decision; "+preempt-be" runs with preemption of BE
// pods (Setup.PreemptBE) and also reports the evictions per experiment.
func BenchmarkExperiment(b *testing.B) {
	s := openbSetup(b, "openb_pod_list_default")
	for _, packer := range []string{share.FGD, share.Granary, share.BestFit, share.FGD + "+preempt-be", share.Granary + "+preempt-be"} {
		b.Run(packer, func(b *testing.B) {
			s := s
			name, preempt := strings.CutSuffix(packer, "+preempt-be")
			s.PreemptBE = preempt
			var decisions, evictions int
			for i := 0; b.Loop(); i++ {
				tr, err := s.RunSeed(name, uint64(42+i%10))
				if err != nil {
					b.Fatal(err)
				}
				decisions += tr.Placed + tr.Failed
				evictions += tr.Evicted
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(decisions), "ns/decision")
			if preempt {
				b.ReportMetric(float64(evictions)/float64(b.N), "evictions/op")
			}
		})
	}
}

// TestGranaryWasteBound (GRANARY_FIGURES=1) explains why the issue's
// target of ≥ 96.5 % allocated on openb_pod_list_default is out of reach
// for a packer that places every pod that fits. For each of seeds 42..51
// it runs granary and splits the unallocated GPUs at the end: on devices
// holding a 0.81-GPU pod (the 810-milli pods are placed whenever they
// arrive before the cluster saturates, whatever the packer; only pods of
// ≤ 190 milli fit beside one), on other partly used devices, and on idle
// devices. For the second group it also packs the same shares offline
// with first-fit decreasing, ignoring CPU and memory. It asserts that the
// first group plus that offline repack already exceeds the 217 GPUs that
// 96.5 % allows, in the mean.
func TestGranaryWasteBound(t *testing.T) {
	if os.Getenv("GRANARY_FIGURES") != "1" {
		t.Skip("set GRANARY_FIGURES=1 for the waste decomposition on the openb trace")
	}
	s := openbSetup(t, "openb_pod_list_default")
	var on81, other, ffd, idle, used, capGPUs float64
	n81 := []int{} // 0.81-GPU pods placed, per seed
	const seeds = 10
	for seed := uint64(42); seed < 42+seeds; seed++ {
		c, err := share.NewCluster(s.Nodes)
		if err != nil {
			t.Fatal(err)
		}
		target := share.TargetShapes(s.Workload, s.Popularity)
		rng := rand.New(rand.NewPCG(seed, 0x6772616e617279)) // as Setup.RunSeed
		arrivals := share.Inflate(rng, s.Workload, c.CapacityMilli(), s.Ratio)
		p, err := share.New(share.Granary, share.Options{Rand: rng, Target: target})
		if err != nil {
			t.Fatal(err)
		}
		tenants := map[[2]int][]int64{} // (node, device) → shares on it
		placed81 := 0
		for _, r := range arrivals {
			pl, ok := p.Place(c, r)
			if !ok {
				continue
			}
			if err := c.Assign(r, pl); err != nil {
				t.Fatal(err)
			}
			if r.Shared() {
				tenants[[2]int{pl.Node, pl.Devices[0]}] = append(tenants[[2]int{pl.Node, pl.Devices[0]}], r.Milli)
			}
			if r.Shared() && r.Milli == 810 {
				placed81++
			}
		}
		n81 = append(n81, placed81)
		var shares []int64
		var w81, wOther, wIdle float64
		for i := range c.Len() {
			for d, free := range c.FreeDevices(i) {
				ts := tenants[[2]int{i, d}]
				switch {
				case slices.Contains(ts, 810):
					w81 += float64(free)
				case free == share.MilliPerDevice:
					wIdle += float64(free)
				default:
					wOther += float64(free)
				}
				if !slices.Contains(ts, 810) {
					shares = append(shares, ts...)
				}
			}
		}
		on81 += w81 / 1000
		other += wOther / 1000
		idle += wIdle / 1000
		ffd += firstFitDecreasing(shares) / 1000
		used += 100 * float64(c.UsedMilli()) / float64(c.CapacityMilli())
		capGPUs = float64(c.CapacityMilli()) / 1000
	}
	on81, other, ffd, idle, used = on81/seeds, other/seeds, ffd/seeds, idle/seeds, used/seeds
	t.Logf("granary, mean of seeds 42..51: %.2f %% allocated at the end; unallocated GPUs on devices with a 0.81-GPU pod %.1f, on other partly used devices %.1f (offline first-fit decreasing of those shares: %.1f), idle %.1f",
		used, on81, other, ffd, idle)
	best := 100 * (1 - (on81+ffd)/capGPUs)
	t.Logf("0.81-GPU pods placed per seed: %d–%d", slices.Min(n81), slices.Max(n81))
	t.Logf("with the other shares repacked offline and no CPU or memory limits: %.2f %% allocated", best)
	if best >= 96.5 {
		t.Fatalf("the bound %.2f %% does not exclude the target 96.5 %%", best)
	}
}

// firstFitDecreasing packs shares (milli) into devices of 1000 and
// returns the milli left free on the devices it opened.
func firstFitDecreasing(shares []int64) float64 {
	s := slices.Clone(shares)
	slices.SortFunc(s, func(a, b int64) int { return int(b - a) })
	var free []int64
	for _, x := range s {
		k := slices.IndexFunc(free, func(f int64) bool { return f >= x })
		if k < 0 {
			free = append(free, share.MilliPerDevice-x)
		} else {
			free[k] -= x
		}
	}
	var w float64
	for _, f := range free {
		w += float64(f)
	}
	return w
}
