package simcmd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/share"
	"github.com/granaryhq/granary/internal/trace"
)

// openbReplayJSON is one packer's replay of the pods in time.
type openbReplayJSON struct {
	Packer      string  `json:"packer"`
	Placed      int     `json:"placed"`
	Never       int     `json:"never_placed"`
	MeanWaitS   float64 `json:"mean_wait_s"`
	MaxWaitS    float64 `json:"max_wait_s"`
	UtilPct     jsonNum `json:"gpu_util_pct"`
	Seed        uint64  `json:"seed"`
	PodsInTrace int     `json:"pods"`
}

// runOpenBReplay replays the pod list in time (creation → deletion, each
// pod running as long as it did in the trace) for every packer, with the
// first seed driving the packers' tie order.
func runOpenBReplay(env *console.Env, podsPath string, a openbArgs, setup share.Setup, pods []trace.OpenBPod) error {
	timed := make([]share.Timed, len(pods))
	for k, p := range pods {
		for _, col := range []struct {
			name string
			v    float64
		}{{"creation_time", p.Creation}, {"deletion_time", p.Deletion}} {
			if col.v < 0 {
				return &fleet.InputError{Pos: fleet.Position{File: podsPath, Line: k + 2, Field: col.name}, Msg: "--replay time needs creation_time and deletion_time on every pod"}
			}
		}
		timed[k] = share.Timed{Req: p.Req, Arrive: p.Creation, Duration: max(0, p.Deletion-p.Creation)}
	}
	target := share.TargetShapes(setup.Workload, setup.Popularity)
	var results []openbReplayJSON
	for _, name := range a.packers {
		c, err := share.NewCluster(setup.Nodes)
		if err != nil {
			return err
		}
		p, err := share.New(name, share.Options{Rand: rand.New(rand.NewPCG(a.seeds[0], 0x6772616e617279)), Target: target})
		if err != nil {
			return err
		}
		r := share.Replay(c, p, timed)
		results = append(results, openbReplayJSON{Packer: name, Placed: r.Placed, Never: r.Never,
			MeanWaitS: math.Round(r.MeanWait*10) / 10, MaxWaitS: math.Round(r.MaxWait*10) / 10, UtilPct: jsonNum(r.UtilPct),
			Seed: a.seeds[0], PodsInTrace: len(pods)})
	}
	switch a.format {
	case console.JSON, console.YAML:
		return console.Encode(env.Stdout, a.format, results)
	}
	rows := [][]string{{"PACKER", "PLACED", "NEVER", "MEAN WAIT (s)", "MAX WAIT (s)", "GPU UTIL%"}}
	for _, r := range results {
		rows = append(rows, []string{r.Packer, strconv.Itoa(r.Placed), strconv.Itoa(r.Never), fmt.Sprintf("%.1f", r.MeanWaitS),
			fmt.Sprintf("%.1f", r.MaxWaitS), fmt.Sprintf("%.2f", float64(r.UtilPct))})
	}
	return console.WriteTable(env.Stdout, rows)
}
