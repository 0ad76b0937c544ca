package control

import (
	"context"
	"sync"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/jobs"
)

// InventoryLedger is the Ledger of a running server: devices in service
// from the store (one query), state changes through the inventory service
// so they get their event and the transition rules.
//
// When Devices also has a LedgerVersion (a number that changes with every
// ledger change, e.g. the last event's sequence number), the in-service list
// is read again only when the version moved: a fleet of 100,000 devices is
// not re-read every round when nothing changed.
type InventoryLedger struct {
	Devices jobs.Fleet         // e.g. *sqlite.Store
	Service *inventory.Service // records state changes
	Actor   string             // event actor, e.g. "scheduler"

	mu      sync.Mutex
	version int64
	cached  []jobs.Device
}

// Versioned is a ledger that can say cheaply whether it changed.
type Versioned interface {
	LedgerVersion(ctx context.Context) (int64, error)
}

var _ Ledger = (*InventoryLedger)(nil)

// InService implements Ledger. The slice returned is shared: do not modify
// it.
func (l *InventoryLedger) InService(ctx context.Context) ([]jobs.Device, error) {
	v, ok := l.Devices.(Versioned)
	if !ok {
		return l.Devices.InService(ctx)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ver, err := v.LedgerVersion(ctx)
	if err != nil {
		return nil, err
	}
	if l.cached != nil && ver == l.version {
		return l.cached, nil
	}
	devs, err := l.Devices.InService(ctx)
	if err != nil {
		return nil, err
	}
	if devs == nil {
		devs = []jobs.Device{}
	}
	l.cached, l.version = devs, ver
	return devs, nil
}

// SetState implements Ledger.
func (l *InventoryLedger) SetState(ctx context.Context, serial string, to fleet.DeviceState, reason string) error {
	_, err := l.Service.SetState(ctx, serial, to, reason, l.Actor)
	return err
}
