package control

import (
	"context"
	"sync"
	"time"
)

// WallClock is real time.
type WallClock struct{}

// Now implements Clock.
func (WallClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (WallClock) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

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

// FastClock runs Speed times faster than real time from Start: a demo can
// show a day of scheduling in minutes.
type FastClock struct {
	Start time.Time // virtual time at Origin
	Speed float64   // virtual seconds per real second, ≥ 1
	// Origin is the real time Start corresponds to; zero means the first
	// call to Now.
	mu     sync.Mutex
	origin time.Time
}

// NewFastClock starts a fast clock now.
func NewFastClock(start time.Time, speed float64) *FastClock {
	if speed < 1 {
		speed = 1
	}
	return &FastClock{Start: start, Speed: speed, origin: time.Now()}
}

// Now implements Clock.
func (c *FastClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Start.Add(time.Duration(float64(time.Since(c.origin)) * c.Speed))
}

// Sleep implements Clock: d of virtual time.
func (c *FastClock) Sleep(ctx context.Context, d time.Duration) error {
	return sleep(ctx, time.Duration(float64(d)/c.Speed))
}

// ManualClock only moves when Sleep or Advance is called: for tests and
// offline runs, as fast as the machine goes.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock starts at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now implements Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Sleep implements Clock: it advances the clock at once.
func (c *ManualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
