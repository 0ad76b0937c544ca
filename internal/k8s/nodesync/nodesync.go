// Package nodesync keeps the stockpile ledger in step with a Kubernetes
// cluster's nodes. A Node informer feeds a single worker that reconciles
// batches of changed nodes against the ledger: each node's accelerators are
// resolved to catalog chips (k8s.Mapping), new devices are imported, and
// cordoned or NotReady nodes, devices the device plugin stops advertising,
// and nodes that leave the cluster become state changes — every one an event
// in the ledger's history with the cluster as its actor. Devices are never
// deleted; reserve devices (not on any node) are never touched.
//
// The sync also records each node's allocatable CPU (milli-cores) and
// memory (MiB) as the ledger node's figures, which the scheduler places
// jobs' cpu_milli and memory_mib against. The cluster is the authority for
// the nodes whose devices it syncs: a changed allocatable replaces the
// recorded figure (an import may only fill in a missing one).
package nodesync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/k8s"
)

// ResourceLabel marks a ledger device as synced from the cluster; its value
// is the extended-resource name the device is advertised under.
const ResourceLabel = "k8s-resource"

// Labels on a node that fill the ledger's site and pool.
const (
	SiteLabel = "topology.kubernetes.io/zone"
	PoolLabel = "granary.io/pool"
)

// Ledger is what the syncer needs from the ledger's use-cases
// (*inventory.Service).
type Ledger interface {
	List(ctx context.Context, f inventory.Filter) (inventory.Page, error)
	Import(ctx context.Context, im *inventory.Import, actor string) (inventory.ImportResult, error)
	SetState(ctx context.Context, serial string, to fleet.DeviceState, reason, actor string) (inventory.Event, error)
	History(ctx context.Context, serial string) ([]inventory.Event, error)
	Nodes(ctx context.Context) ([]inventory.Node, error)
	SyncNodeFigures(ctx context.Context, nodes []inventory.Node) (int, error)
}

var _ Ledger = (*inventory.Service)(nil)

// Config configures a Syncer. Informers, Ledger, Mapping.Catalog, Log and
// Registry are required.
type Config struct {
	Informers informers.SharedInformerFactory
	Ledger    Ledger
	Mapping   k8s.Mapping
	Actor     string // event actor; default "kubernetes"
	Log       *slog.Logger
	Registry  prometheus.Registerer
}

// Syncer is the node → ledger sync. Run it once.
type Syncer struct {
	cfg    Config
	nodes  listersv1.NodeLister
	synced cache.InformerSynced

	mu     sync.Mutex
	dirty  map[string]bool
	kick   chan struct{}
	logged map[string]bool // unknown accelerators already logged
	ready  chan struct{}

	// figs is what the ledger holds of each node's CPU and memory, as
	// last read (full) or written (syncFigures); only Run's goroutine
	// uses it.
	figs map[string]figures

	unknown  *prometheus.CounterVec
	batchDur prometheus.Gauge
	changes  *prometheus.CounterVec
}

// New builds a syncer and registers its node informer with cfg.Informers
// (start the factory after New).
func New(cfg Config) (*Syncer, error) {
	if cfg.Informers == nil || cfg.Ledger == nil || cfg.Mapping.Catalog == nil || cfg.Log == nil || cfg.Registry == nil {
		return nil, errors.New("nodesync: Config needs Informers, a Ledger, a Mapping with a Catalog, a Log and a Registry")
	}
	if cfg.Actor == "" {
		cfg.Actor = "kubernetes"
	}
	s := &Syncer{cfg: cfg, dirty: map[string]bool{}, kick: make(chan struct{}, 1), logged: map[string]bool{}, ready: make(chan struct{}), figs: map[string]figures{},
		unknown: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "granary_k8s_unknown_accelerators_total",
			Help: "Accelerators seen on nodes whose model resolves to no catalog chip (kept out of the ledger), counted once per node and cause, by resource name."}, []string{"resource"}),
		batchDur: prometheus.NewGauge(prometheus.GaugeOpts{Name: "granary_k8s_node_sync_seconds",
			Help: "Wall time of the last node → ledger reconcile batch."}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "granary_k8s_ledger_changes_total",
			Help: "Ledger writes made by the node sync, by kind (created, state, figures: a node's CPU or memory)."}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{s.unknown, s.batchDur, s.changes} {
		if err := cfg.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("nodesync: registering metrics: %w", err)
		}
	}
	inf := cfg.Informers.Core().V1().Nodes()
	s.nodes = inf.Lister()
	s.synced = inf.Informer().HasSynced
	mark := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok {
			s.mark(n.Name)
			return
		}
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			if _, name, err := cache.SplitMetaNamespaceKey(t.Key); err == nil {
				s.mark(name)
			}
		}
	}
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    mark,
		UpdateFunc: func(_, n any) { mark(n) },
		DeleteFunc: mark,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Syncer) mark(name string) {
	s.mu.Lock()
	s.dirty[name] = true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Ready is closed once the first full reconcile (every node of the cluster
// and every synced device of the ledger) is done.
func (s *Syncer) Ready() <-chan struct{} { return s.ready }

// Run waits for the informer cache, reconciles the whole cluster once, then
// every changed node as changes arrive, until ctx ends. A failed batch is
// retried after a second.
func (s *Syncer) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), s.synced) {
		return ctx.Err()
	}
	for {
		err := s.full(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.cfg.Log.Error("node sync: first reconcile failed; retrying", "err", err)
		if sleep(ctx, time.Second) != nil {
			return nil
		}
	}
	close(s.ready)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		}
		s.mu.Lock()
		names := make([]string, 0, len(s.dirty))
		for n := range s.dirty {
			names = append(names, n)
		}
		clear(s.dirty)
		s.mu.Unlock()
		slices.Sort(names)
		if err := s.reconcile(ctx, names, nil); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.cfg.Log.Error("node sync failed; retrying", "nodes", len(names), "err", err)
			for _, n := range names {
				s.mark(n)
			}
			if sleep(ctx, time.Second) != nil {
				return nil
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// full reconciles every node of the cluster and every node the ledger has
// synced devices on (a node deleted while Granary was down).
func (s *Syncer) full(ctx context.Context) error {
	all, err := s.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	have, err := s.ledgerDevices(ctx, nil)
	if err != nil {
		return err
	}
	nodes, err := s.cfg.Ledger.Nodes(ctx)
	if err != nil {
		return err
	}
	clear(s.figs)
	for _, n := range nodes {
		s.figs[n.Hostname] = figures{cpu: n.CPUMilli, mem: n.MemoryMiB}
	}
	set := map[string]bool{}
	for _, n := range all {
		set[n.Name] = true
	}
	for _, d := range have {
		set[d.Node] = true
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return s.reconcile(ctx, names, have)
}

// ledgerDevices returns the synced devices on nodes (nil: all of them).
func (s *Syncer) ledgerDevices(ctx context.Context, nodes []string) ([]inventory.Device, error) {
	var out []inventory.Device
	page := func(f inventory.Filter) error {
		f.Limit = inventory.MaxPageSize
		for {
			p, err := s.cfg.Ledger.List(ctx, f)
			if err != nil {
				return err
			}
			for _, d := range p.Devices {
				if d.Labels[ResourceLabel] != "" {
					out = append(out, d)
				}
			}
			if p.Next == "" {
				return nil
			}
			f.After = p.Next
		}
	}
	if nodes == nil || len(nodes) > 64 {
		if err := page(inventory.Filter{}); err != nil {
			return nil, err
		}
		if nodes != nil {
			want := map[string]bool{}
			for _, n := range nodes {
				want[n] = true
			}
			out = slices.DeleteFunc(out, func(d inventory.Device) bool { return !want[d.Node] })
		}
		return out, nil
	}
	for _, n := range nodes {
		if err := page(inventory.Filter{Node: n}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Serial is the ledger serial of the i-th device of model on a node.
func Serial(node, model string, i int) string { return node + ":" + model + ":" + strconv.Itoa(i) }

// want is one device as the cluster says it should be.
type want struct {
	dev    inventory.Device
	reason string // why not in service; "" = in service
}

// desired computes the devices a node should have in the ledger, and the
// unknown accelerators it advertises.
func (s *Syncer) desired(n *corev1.Node) ([]want, []k8s.Accelerators) {
	down := nodeDown(n)
	var out []want
	var unknown []k8s.Accelerators
	for _, a := range s.cfg.Mapping.Node(n) {
		if a.Model == "" {
			unknown = append(unknown, a)
			continue
		}
		count := max(a.Capacity, a.Allocatable)
		for i := range count {
			w := want{dev: inventory.Device{Serial: Serial(n.Name, a.Model, i), Model: a.Model, Node: n.Name,
				Site: n.Labels[SiteLabel], Pool: n.Labels[PoolLabel], State: fleet.InService,
				Labels: map[string]string{ResourceLabel: a.Resource}}}
			switch {
			case down != "":
				w.reason = down
			case i >= a.Allocatable:
				w.reason = fmt.Sprintf("node %s: the device plugin advertises %d of %d %s", n.Name, a.Allocatable, count, a.Resource)
			}
			if w.reason != "" {
				w.dev.State = fleet.Maintenance
			}
			out = append(out, w)
		}
	}
	return out, unknown
}

// nodeDown says why a node's devices cannot serve, or "".
func nodeDown(n *corev1.Node) string {
	if n.Spec.Unschedulable {
		return fmt.Sprintf("node %s cordoned", n.Name)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			msg := c.Reason
			if msg == "" {
				msg = string(c.Status)
			}
			return fmt.Sprintf("node %s NotReady (%s)", n.Name, msg)
		}
	}
	return ""
}

// reconcile brings the ledger's devices on names in step with the cluster.
// have, when not nil, is every synced device of the ledger.
func (s *Syncer) reconcile(ctx context.Context, names []string, have []inventory.Device) error {
	start := time.Now()
	if have == nil {
		var err error
		if have, err = s.ledgerDevices(ctx, names); err != nil {
			return err
		}
	}
	cur := make(map[string]inventory.Device, len(have))
	for _, d := range have {
		cur[d.Serial] = d
	}
	im := &inventory.Import{File: "kubernetes"}
	seenNodes := map[string]bool{}
	type change struct {
		serial, reason string
		to             fleet.DeviceState
		from           fleet.DeviceState
	}
	var changes []change
	keep := map[string]bool{}
	var managed []*corev1.Node // nodes with devices in the ledger: their figures are the cluster's
	for _, name := range names {
		n, err := s.nodes.Get(name)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if n == nil || err != nil {
			continue // gone: handled below with every device not kept
		}
		ws, unknown := s.desired(n)
		s.noteUnknown(n.Name, unknown)
		if len(ws) > 0 {
			managed = append(managed, n)
		}
		for _, w := range ws {
			keep[w.dev.Serial] = true
			d, ok := cur[w.dev.Serial]
			if !ok {
				im.Rows = append(im.Rows, inventory.Row{Device: w.dev, Pos: fleet.Position{Entry: w.dev.Serial}})
				if !seenNodes[n.Name] {
					seenNodes[n.Name] = true
					im.Nodes = append(im.Nodes, inventory.Node{Hostname: n.Name, Site: n.Labels[SiteLabel]})
				}
				continue
			}
			if d.State != w.dev.State {
				reason := w.reason
				if reason == "" {
					reason = fmt.Sprintf("node %s ready and advertising %s", n.Name, w.dev.Labels[ResourceLabel])
				}
				changes = append(changes, change{serial: d.Serial, from: d.State, to: w.dev.State, reason: reason})
			}
		}
	}
	nodesHere := map[string]bool{}
	for _, n := range names {
		nodesHere[n] = true
	}
	for _, d := range have {
		if keep[d.Serial] || !nodesHere[d.Node] || d.State != fleet.InService {
			continue
		}
		reason := fmt.Sprintf("node %s no longer advertises this device", d.Node)
		if n, err := s.nodes.Get(d.Node); err != nil || n == nil {
			reason = fmt.Sprintf("node %s left the cluster", d.Node)
		}
		changes = append(changes, change{serial: d.Serial, from: d.State, to: fleet.Maintenance, reason: reason})
	}
	if len(im.Rows) > 0 {
		if _, err := s.cfg.Ledger.Import(ctx, im, s.cfg.Actor); err != nil {
			return fmt.Errorf("nodesync: importing %d devices: %w", len(im.Rows), err)
		}
		s.changes.WithLabelValues("created").Add(float64(len(im.Rows)))
	}
	for _, c := range changes {
		ok, err := s.mayChange(ctx, c.serial, c.from, c.to)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if _, err := s.cfg.Ledger.SetState(ctx, c.serial, c.to, c.reason, s.cfg.Actor); err != nil && !errors.Is(err, fleet.ErrConflict) {
			return fmt.Errorf("nodesync: %s → %s: %w", c.serial, c.to, err)
		}
		s.changes.WithLabelValues("state").Inc()
	}
	figs, err := s.syncFigures(ctx, managed)
	if err != nil {
		return err
	}
	s.batchDur.Set(time.Since(start).Seconds())
	if len(im.Rows) > 0 || len(changes) > 0 || figs > 0 {
		s.cfg.Log.Info("node sync", "nodes", len(names), "created", len(im.Rows), "state_changes", len(changes), "figures", figs, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// figures are a node's CPU (milli-cores) and memory (MiB); 0 is unknown.
type figures struct{ cpu, mem int64 }

// NodeFigures are the CPU (milli-cores) and memory (MiB, rounded down) a
// node offers pods: its allocatable, or its capacity where allocatable
// lacks the resource; 0 when neither has it. A figure beyond the ledger's
// bounds (inventory.MaxNodeCPUMilli, MaxNodeMemoryMiB) is the bound.
func NodeFigures(n *corev1.Node) (cpuMilli, memMiB int64) {
	get := func(name corev1.ResourceName) (resource.Quantity, bool) {
		if q, ok := n.Status.Allocatable[name]; ok {
			return q, true
		}
		q, ok := n.Status.Capacity[name]
		return q, ok
	}
	if q, ok := get(corev1.ResourceCPU); ok {
		cpuMilli = min(max(q.MilliValue(), 0), inventory.MaxNodeCPUMilli)
	}
	if q, ok := get(corev1.ResourceMemory); ok {
		memMiB = min(max(q.Value()>>20, 0), inventory.MaxNodeMemoryMiB)
	}
	return cpuMilli, memMiB
}

// syncFigures writes the CPU and memory of the nodes whose figures differ
// from the ledger's (a figure the cluster does not report is left as the
// ledger has it) and returns how many nodes changed.
func (s *Syncer) syncFigures(ctx context.Context, nodes []*corev1.Node) (int, error) {
	var put []inventory.Node
	for _, n := range nodes {
		cpu, mem := NodeFigures(n)
		have := s.figs[n.Name]
		if (cpu != 0 && cpu != have.cpu) || (mem != 0 && mem != have.mem) {
			put = append(put, inventory.Node{Hostname: n.Name, CPUMilli: cpu, MemoryMiB: mem})
		}
	}
	if len(put) == 0 {
		return 0, nil
	}
	changed, err := s.cfg.Ledger.SyncNodeFigures(ctx, put)
	if err != nil {
		return 0, fmt.Errorf("nodesync: CPU and memory of %d nodes: %w", len(put), err)
	}
	for _, n := range put {
		have := s.figs[n.Hostname]
		s.figs[n.Hostname] = figures{cpu: cmp.Or(n.CPUMilli, have.cpu), mem: cmp.Or(n.MemoryMiB, have.mem)}
	}
	s.changes.WithLabelValues("figures").Add(float64(changed))
	return changed, nil
}

// mayChange: the sync moves devices between in service and maintenance
// only, and brings a device back into service only from a maintenance it
// put it in itself (an operator's maintenance, a failure the scheduler
// recorded, reserve and retirement are people's decisions).
func (s *Syncer) mayChange(ctx context.Context, serial string, from, to fleet.DeviceState) (bool, error) {
	switch {
	case from == fleet.InService && to == fleet.Maintenance:
		return true, nil
	case from == fleet.Maintenance && to == fleet.InService:
		h, err := s.cfg.Ledger.History(ctx, serial)
		if err != nil {
			return false, err
		}
		return len(h) > 0 && h[len(h)-1].Actor == s.cfg.Actor, nil
	}
	return false, nil
}

// noteUnknown counts a node's unresolved accelerators and logs each one
// once.
func (s *Syncer) noteUnknown(node string, unknown []k8s.Accelerators) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range unknown {
		key := node + "\x00" + a.Unknown
		if s.logged[key] {
			continue
		}
		s.logged[key] = true
		n := max(a.Capacity, a.Allocatable)
		s.unknown.WithLabelValues(a.Resource).Add(float64(n))
		s.cfg.Log.Warn("node sync: accelerator model unknown; not in the ledger (label the node "+k8s.ModelLabel+"=<chip>)",
			"node", node, "devices", n, "why", a.Unknown)
	}
}
