package jobs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/granaryhq/granary/internal/fleet"
)

// MemStore is an in-memory Store: the fake for tests and demos, held to the
// same contract (jobstest) as the SQL stores.
type MemStore struct {
	mu     sync.Mutex
	jobs   []Job   // index = seq-1
	holder holders // device serial → job id → milli held
	rounds []Round
	teams  map[string]Team
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{holder: holders{}, teams: map[string]Team{}}
}

func cloneJob(j Job, history bool) Job {
	if j.Placement != nil {
		p := *j.Placement
		p.Devices = slices.Clone(p.Devices)
		p.Nodes = slices.Clone(p.Nodes)
		j.Placement = &p
	}
	j.Allowed = slices.Clone(j.Allowed)
	j.Forbidden = slices.Clone(j.Forbidden)
	if history {
		j.History = slices.Clone(j.History)
	} else {
		j.History = nil
	}
	return j
}

// CreateJob implements Store.
func (m *MemStore) CreateJob(_ context.Context, j Job) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j.ID = FormatID(int64(len(m.jobs) + 1))
	j = cloneJob(j, true)
	if err := m.hold(j.ID, nil, j.Placement); err != nil {
		return Job{}, err
	}
	m.jobs = append(m.jobs, j)
	return cloneJob(j, true), nil
}

func (m *MemStore) get(id string) (*Job, error) {
	n, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	if n > int64(len(m.jobs)) {
		return nil, fmt.Errorf("%w: no job %q", fleet.ErrNotFound, id)
	}
	return &m.jobs[n-1], nil
}

// Job implements Store.
func (m *MemStore) Job(_ context.Context, id string) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.get(id)
	if err != nil {
		return Job{}, err
	}
	return cloneJob(*j, true), nil
}

// Jobs implements Store.
func (m *MemStore) Jobs(_ context.Context, f Filter) ([]Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Job
	skip := f.Offset
	for k := range m.jobs {
		i := k
		if f.Newest {
			i = len(m.jobs) - 1 - k
		}
		if f.Match(&m.jobs[i]) {
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, cloneJob(m.jobs[i], false))
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
	}
	return out, nil
}

// CountJobs implements Store.
func (m *MemStore) CountJobs(_ context.Context, f Filter) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for i := range m.jobs {
		if f.Match(&m.jobs[i]) {
			n++
		}
	}
	return n, nil
}

// TeamLoad implements Store.
func (m *MemStore) TeamLoad(context.Context) ([]TeamLoad, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	by := map[string]int{} // team → index in out
	var out []TeamLoad
	for i := range m.jobs {
		j := &m.jobs[i]
		if !j.State.Active() {
			continue
		}
		k, ok := by[j.Team]
		if !ok {
			k = len(out)
			by[j.Team] = k
			out = append(out, TeamLoad{Team: j.Team})
		}
		l := &out[k]
		if j.State == Running && j.Placement != nil {
			l.Running++
			if l.Use == nil {
				l.Use = map[string]int{}
			}
			l.Use[j.Placement.Model] += len(j.Placement.Devices)
		} else {
			l.Waiting++
		}
	}
	return out, nil
}

// hold moves device ownership from old to new for job id, failing with
// fleet.ErrConflict when a device would hold more than a whole device
// (another job's whole device, or shares summing above 1000 milli).
func (m *MemStore) hold(id string, old, pl *Placement) error {
	h := m.holder.clone()
	if old != nil {
		h.release(id, old.Devices)
	}
	if pl != nil {
		for _, d := range pl.Devices {
			if err := h.take(d, id, pl.DeviceMilli()); err != nil {
				return err
			}
		}
	}
	m.holder = h
	return nil
}

// holders is who holds each device and how much of it: serial → job id →
// milli (1000 for a whole device). The SQL stores keep the same in
// job_devices, whose trigger refuses shares above a whole device.
type holders map[string]map[string]int64

func (h holders) clone() holders {
	out := make(holders, len(h))
	for d, js := range h {
		out[d] = maps.Clone(js)
	}
	return out
}

func (h holders) release(id string, devs []string) {
	for _, d := range devs {
		delete(h[d], id)
		if len(h[d]) == 0 {
			delete(h, d)
		}
	}
}

func (h holders) take(d, id string, milli int64) error {
	sum := milli
	var others []string
	for j, v := range h[d] {
		if j != id {
			sum += v
			others = append(others, j)
		}
	}
	if sum > 1000 {
		slices.Sort(others)
		return fmt.Errorf("%w: device %s is held by %s, cannot place %s on it (%d milli of it would be held)", fleet.ErrConflict, d, strings.Join(others, ", "), id, sum)
	}
	if h[d] == nil {
		h[d] = map[string]int64{}
	}
	h[d][id] = milli
	return nil
}

// UpdateJob implements Store.
func (m *MemStore) UpdateJob(_ context.Context, id string, decide func(Job) (Job, []Event, error)) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, err := m.get(id)
	if err != nil {
		return Job{}, err
	}
	nj, evs, err := decide(cloneJob(*cur, true))
	if err != nil {
		return Job{}, err
	}
	nj.ID = id
	if err := m.hold(id, cur.Placement, nj.Placement); err != nil {
		return Job{}, err
	}
	nj = cloneJob(nj, false)
	nj.History = append(slices.Clone(cur.History), evs...)
	*cur = nj
	return cloneJob(nj, true), nil
}

// SaveRound implements Store.
func (m *MemStore) SaveRound(_ context.Context, r Round, us []Update) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Check first so a failure changes nothing.
	holder := m.holder.clone()
	var apply []int
	for i := range us {
		cur, err := m.get(us[i].Job.ID)
		if err != nil {
			return err
		}
		if cur.State == Cancelled {
			continue
		}
		apply = append(apply, i)
		if cur.Placement != nil {
			holder.release(cur.ID, cur.Placement.Devices)
		}
	}
	for _, i := range apply {
		if pl := us[i].Job.Placement; pl != nil {
			for _, d := range pl.Devices {
				if err := holder.take(d, us[i].Job.ID, pl.DeviceMilli()); err != nil {
					return fmt.Errorf("device %s placed twice: %w", d, err)
				}
			}
		}
	}
	m.holder = holder
	for _, i := range apply {
		cur, _ := m.get(us[i].Job.ID)
		h := cur.History
		*cur = cloneJob(us[i].Job, false)
		cur.History = append(h, us[i].Events...)
	}
	r.Seq = int64(len(m.rounds) + 1)
	r.State = slices.Clone(r.State)
	if n := len(m.rounds); n > 0 && r.State != nil {
		m.rounds[n-1].State = nil // only the latest state is kept
	}
	m.rounds = append(m.rounds, r)
	return nil
}

// LastRound implements Store.
func (m *MemStore) LastRound(context.Context) (Round, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.rounds) == 0 {
		return Round{}, nil
	}
	return m.rounds[len(m.rounds)-1], nil
}

// Teams implements Store.
func (m *MemStore) Teams(context.Context) ([]Team, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Team, 0, len(m.teams))
	for _, n := range sortedKeys(m.teams) {
		out = append(out, cloneTeam(m.teams[n]))
	}
	return out, nil
}

func cloneTeam(t Team) Team {
	if t.Guarantees != nil {
		g := make(map[string]int, len(t.Guarantees))
		for k, v := range t.Guarantees {
			g[k] = v
		}
		t.Guarantees = g
	}
	return t
}

// PutTeam implements Store.
func (m *MemStore) PutTeam(_ context.Context, t Team, check func([]Team) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := map[string]Team{}
	for k, v := range m.teams {
		next[k] = v
	}
	next[t.Name] = cloneTeam(t)
	all := make([]Team, 0, len(next))
	for _, n := range sortedKeys(next) {
		all = append(all, next[n])
	}
	if check != nil {
		if err := check(all); err != nil {
			return err
		}
	}
	m.teams = next
	return nil
}

// DeleteTeam implements Store.
func (m *MemStore) DeleteTeam(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.teams[name]; !ok {
		return fmt.Errorf("%w: no team %q", fleet.ErrNotFound, name)
	}
	delete(m.teams, name)
	return nil
}
