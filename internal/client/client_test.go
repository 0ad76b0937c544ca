package client_test

import (
	"context"
	"testing"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/fleet"
)

// Every path parameter is escaped exactly once (issue 16: `inventory
// history 'BI-ü-雪'` and serials with '/', '?', '#', '%' were escaped twice
// and answered 404).
func TestPathParametersEscapedOnce(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{})
	c := srv.Client(t, apitest.AdminSecret)
	ctx := context.Background()
	for _, serial := range []string{"BI-ü-雪", "a/b", "a?b=1", "a#b", "100%", "%2F", "a/../b", "...", "x%zz", "plain"} {
		t.Run(serial, func(t *testing.T) {
			if _, err := c.CreateDevice(ctx, api.NewDevice{Serial: serial, Model: "H800", State: fleet.Reserve}); err != nil {
				t.Fatalf("create: %v", err)
			}
			d, err := c.Device(ctx, serial)
			if err != nil || d.Serial != serial {
				t.Fatalf("get: %+v, %v", d, err)
			}
			if _, err := c.SetState(ctx, serial, fleet.InService, "racked"); err != nil {
				t.Fatalf("set state: %v", err)
			}
			h, err := c.History(ctx, serial)
			if err != nil {
				t.Fatalf("history: %v", err)
			}
			if len(h.Events) != 2 {
				t.Errorf("history has %d events, want 2", len(h.Events))
			}
		})
	}
}
